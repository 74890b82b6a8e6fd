/**
 * Replacing an unfinished SocketLookupRedirect (a resource directory whose
 * metadata pin is gone, as an interrupted create leaves) removes the directory
 * before the new one is created: while its link still steers traffic, the plan
 * must not call that replace hitless, in the human or the JSON output.
 */
import assert from "node:assert/strict";
import {
  applyStack,
  kernelStore,
  plan,
  planJson,
  renderPlan,
  SocketLookupRedirect,
  Stack,
} from "../../mod.ts";
import { META_PIN } from "../../providers/state/meta.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { withSlrLab } from "../helpers/slr_lab.ts";

Deno.test("plan calls the replace of an SLR directory without metadata NOT hitless", async () => {
  await withSlrLab(async (lab) => {
    const fs = privateBpffs();
    try {
      const store = kernelStore(fs.root);
      await lab.serve("tcp", "127.0.0.1", 8080, "nginx");
      const stack = new Stack("kt", [
        new SocketLookupRedirect("web", {
          netns: lab.path,
          bindings: [{ protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "nginx" }],
          destinations: { nginx: { listener: "tcp://127.0.0.1:8080" } },
        }),
      ]);
      await applyStack(stack, store);
      Deno.removeSync(`${fs.root}/kt/web/${META_PIN}`);
      assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "nginx", "the partial still steers");

      const p = await plan(stack, store);
      assert.deepEqual(p.steps.map((s) => [s.action, s.hitless]), [["replace", false]]);
      const human = renderPlan(p, { color: false });
      assert.match(
        human,
        /# SocketLookupRedirect\.web must be replaced\n {2}-\/\+ SocketLookupRedirect\.web {2}\(NOT hitless\)/,
      );
      assert.match(human, /removed before the new one is created.*\[not hitless\]/);
      const json = planJson(p).resource_changes[0];
      assert.equal(json.sockform.hitless, false);
      assert.deepEqual(json.change.actions, ["delete", "create"]);
      assert.equal(json.action_reason, "replace_because_tainted");
      assert.ok(json.sockform.changes.some((c) => !c.hitless && /removed before/.test(c.reason)));

      await applyStack(stack, store);
      assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "nginx", "steered again after apply");
      assert.deepEqual((await plan(stack, store)).steps.map((s) => s.action), ["no-op"]);
    } finally {
      fs.cleanup();
    }
  });
});
