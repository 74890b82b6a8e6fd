import assert from "node:assert/strict";
import { defineStack, PathManager, SocketLookupRedirect, Stack, StackProblems } from "../mod.ts";

Deno.test("defineStack: a stack built in code reports every problem at once", () => {
  const build = () =>
    new Stack("demo", [
      new SocketLookupRedirect("web", { bindings: "all", destinations: {} } as never),
      new PathManager("pm", { netns: 7 } as never),
      new SocketLookupRedirect("api", { bindings: [], destinations: {} }, { dependsOn: ["ghost"] }),
    ]);
  assert.throws(build, /web\.bindings/, "without defineStack the first constructor throws");
  assert.throws(() => defineStack(build), (e: unknown) => {
    assert.ok(e instanceof StackProblems, String(e));
    const where = e.problems.map((p) => `${p.address} ${p.path}`);
    assert.ok(where.includes("SocketLookupRedirect.web bindings"), where.join("\n"));
    assert.ok(where.includes("PathManager.pm netns"), where.join("\n"));
    assert.ok(where.includes("SocketLookupRedirect.api dependsOn[0]"), where.join("\n"));
    return true;
  });
  const ok = defineStack(() => new Stack("demo", [new PathManager("pm", {})]));
  assert.equal(ok.resources.length, 1);
});
