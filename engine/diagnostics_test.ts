import assert from "node:assert/strict";
import { StackProblems } from "./diagnostics.ts";
import { PlanError } from "./errors.ts";
import { plan } from "./plan.ts";
import { Stack } from "./stack.ts";
import { fakeStore } from "./testing/fake.ts";
import type { StateStore } from "./store.ts";
import { FakeThing } from "../tests/helpers/fake_resource.ts";

/** The fake store, with `resolve` refusing the named resources as a missing netns would. */
function refusing(names: string[]): StateStore {
  const store = fakeStore();
  const driver = store.driver.bind(store);
  return Object.assign(Object.create(store), {
    driver(kind: string) {
      const d = driver(kind);
      return {
        ...d,
        resolve: (ctx: Parameters<typeof d.resolve>[0], r: Parameters<typeof d.resolve>[1]) => {
          if (names.includes(r.name)) throw new PlanError(r.name, "netns", "does not exist");
          return d.resolve(ctx, r);
        },
      };
    },
  });
}

Deno.test("Stack.validate reports every dangling dependsOn at once, in every resource", () => {
  const stack = new Stack("s", [
    new FakeThing("a", { size: 1 }, { dependsOn: ["x", "y"] }),
    new FakeThing("b", { size: 1 }, { dependsOn: ["z"] }),
  ]);
  let e: unknown;
  try {
    stack.validate();
  } catch (thrown) {
    e = thrown;
  }
  assert.ok(e instanceof StackProblems);
  assert.deepEqual(e.problems.map((p) => `${p.resource}.${p.path}`), [
    "a.dependsOn[0]",
    "a.dependsOn[1]",
    "b.dependsOn[0]",
  ]);
});

Deno.test("plan reports every resource's resolve-time problem in one run, with addresses", async () => {
  const stack = new Stack("s", [
    new FakeThing("a", { size: 1 }),
    new FakeThing("ok", { size: 1 }),
    new FakeThing("b", { size: 1 }),
  ]);
  const e = await plan(stack, refusing(["a", "b"])).then(() => null, (e) => e);
  assert.ok(e instanceof StackProblems, String(e));
  assert.deepEqual(e.problems, [
    { resource: "a", path: "netns", message: "does not exist", address: "FakeThing.a" },
    { resource: "b", path: "netns", message: "does not exist", address: "FakeThing.b" },
  ]);
  assert.equal(e.message, "a.netns: does not exist\nb.netns: does not exist");
});

Deno.test("plan's single resolve-time problem keeps its class", async () => {
  const stack = new Stack("s", [new FakeThing("a", { size: 1 }), new FakeThing("b", { size: 1 })]);
  const e = await plan(stack, refusing(["b"])).then(() => null, (e) => e);
  assert.ok(e instanceof PlanError, String(e));
  assert.equal(e.message, "b.netns: does not exist");
});
