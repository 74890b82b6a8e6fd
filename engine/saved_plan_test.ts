import assert from "node:assert/strict";
import {
  assertFresh,
  isSavedPlanFile,
  parseSavedPlan,
  planFromSaved,
  type SavedPlan,
  stepSignature,
  toSavedPlan,
} from "./saved_plan.ts";
import { plan } from "./plan.ts";
import { applyStack } from "./session.ts";
import { Stack } from "./stack.ts";
import { UserError } from "./errors.ts";
import { renderPlan } from "./render_human.ts";
import { type FakeStore, fakeStore } from "./testing/fake.ts";
import { FakeThing, type FakeThingSpec } from "../tests/helpers/fake_resource.ts";
import type { KindDriver } from "./types.ts";

const thing = (name: string, size = 1) => new FakeThing(name, { size });
const base = () => new Stack("demo", [thing("a"), thing("b")]);
const wanted = () => new Stack("demo", [thing("a"), thing("b", 2), thing("c")]);

/** A deployed base stack and a saved plan towards `wanted`, round-tripped through JSON. */
async function saved(): Promise<{ store: FakeStore; file: SavedPlan }> {
  const store = fakeStore();
  await applyStack(base(), store);
  const p = await plan(wanted(), store);
  const file = JSON.parse(JSON.stringify(toSavedPlan(p, "stack.ts", store.root)));
  return { store, file };
}

const stale = (what: RegExp) => (e: unknown) => {
  assert.ok(e instanceof UserError);
  assert.match(e.message, /^saved plan is stale: /);
  assert.match(e.message, what);
  return true;
};

Deno.test("saved plan: records the stack, root, token and step signature", async () => {
  const { store, file } = await saved();
  assert.equal(file.format, "sockform-plan/1");
  assert.equal(file.stackFile, "stack.ts");
  assert.equal(file.stack, "demo");
  assert.equal(file.stateRoot, store.root);
  assert.deepEqual(file.steps.map((s) => `${s.action} ${s.address}`), [
    "no-op FakeThing.a",
    "update FakeThing.b",
    "create FakeThing.c",
  ]);
  assert.equal(file.plan.format_version, "1.2");
  assert.deepEqual(file.steps, stepSignature(await plan(wanted(), store)));
});

Deno.test("saved plan: a fresh plan of an unchanged kernel passes and applies", async () => {
  const { store, file } = await saved();
  assertFresh(file, await plan(wanted(), store));
  const outcome = await applyStack(wanted(), store, { saved: file });
  assert.equal(outcome.applied, 2);
  assert.deepEqual(store.read("demo", "b")?.state, { size: 2 });
});

Deno.test("saved plan: tampering with the kernel makes it stale", async (t) => {
  const tampers: [string, (s: FakeStore) => void][] = [
    ["edited state", (s) => s.editState("demo", "a", () => ({ size: 9 }))],
    ["dropped metadata", (s) => s.dropMeta("demo", "a")],
    ["orphan added", (s) => s.addOrphan("demo", "x", "FakeThing", { size: 1 })],
    ["partial added", (s) => s.addPartial("demo", "y")],
  ];
  for (const [what, tamper] of tampers) {
    await t.step(what, async () => {
      const { store, file } = await saved();
      tamper(store);
      const fresh = await plan(wanted(), store);
      assert.throws(() => assertFresh(file, fresh), stale(/kernel state of stack "demo" changed/));
    });
  }
});

Deno.test("saved plan: apply refuses a stale plan without changing anything", async () => {
  const { store, file } = await saved();
  store.editState("demo", "a", () => ({ size: 9 }));
  const before = store.snapshot();
  await assert.rejects(applyStack(wanted(), store, { saved: file }), stale(/kernel state/));
  assert.deepEqual(store.snapshot(), before);
  assert.equal(store.log.at(-1), "unlock /fake/sockform/demo", "the lock was released");
});

Deno.test("saved plan: a changed stack makes it stale", async (t) => {
  const changed: [string, Stack][] = [
    ["a spec changed", new Stack("demo", [thing("a"), thing("b", 3), thing("c")])],
    ["a resource dropped", new Stack("demo", [thing("a"), thing("b", 2)])],
    ["a resource added", new Stack("demo", [thing("a"), thing("b", 2), thing("c"), thing("d")])],
  ];
  for (const [what, stack] of changed) {
    await t.step(what, async () => {
      const { store, file } = await saved();
      const fresh = await plan(stack, store);
      assert.throws(() => assertFresh(file, fresh), stale(/the stack file stack\.ts changed/));
      await assert.rejects(applyStack(stack, store, { saved: file }), stale(/stack file/));
    });
  }
});

/**
 * The store with FakeThing "b" resolving to `size` whatever its spec says: the
 * same spec and kernel, another desired state (as a re-created cgroup or
 * another sockform build gives a real kind).
 */
function resolvingB(store: FakeStore, size: number): FakeStore {
  const driver = (kind: string): KindDriver => {
    const d = store.driver(kind);
    return {
      ...d,
      resolve: async (ctx, r) => {
        const desired = await d.resolve(ctx, r);
        return r.name === "b" ? { ...(desired as FakeThingSpec), size } : desired;
      },
    };
  };
  return Object.assign(Object.create(store), { driver });
}

Deno.test("saved plan: a step that now resolves to other changes makes it stale", async () => {
  const { store, file } = await saved();
  const shifted = resolvingB(store, 5);
  const fresh = await plan(wanted(), shifted);
  assert.equal(fresh.token, file.token, "the kernel did not change");
  assert.throws(
    () => assertFresh(file, fresh),
    stale(/FakeThing\.b now resolves to other changes than the plan showed/),
  );
  const before = store.snapshot();
  await assert.rejects(applyStack(wanted(), shifted, { saved: file }), stale(/FakeThing\.b/));
  assert.deepEqual(store.snapshot(), before, "nothing the plan did not show was applied");
  // Resolving to what the plan showed still applies.
  await applyStack(wanted(), resolvingB(store, 2), { saved: file });
  assert.deepEqual(store.read("demo", "b")?.state, { size: 2 });
});

Deno.test("saved plan: applying it twice is refused the second time", async () => {
  const { store, file } = await saved();
  await applyStack(wanted(), store, { saved: file });
  await assert.rejects(applyStack(wanted(), store, { saved: file }), stale(/kernel state/));
});

Deno.test("saved plan: a malformed file is one error naming the field", async (t) => {
  const { file } = await saved();
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["numeric stackFile", { stackFile: 7 }, /stackFile: .*expected string/i],
    ["missing stateRoot", { stateRoot: undefined }, /stateRoot: /],
    ["token not a digest", { token: "x" }, /token: expected a sha256 hex digest/],
    ["steps not an array", { steps: {} }, /steps: /],
    [
      "a step without address",
      { steps: [{ action: "create", specHash: "" }] },
      /steps\[0\]\.address/,
    ],
  ];
  for (const [what, edit, message] of cases) {
    await t.step(what, () => {
      const text = JSON.stringify({ ...file, ...edit });
      assert.throws(() => parseSavedPlan(text, "p.json"), (e: unknown) => {
        assert.ok(e instanceof UserError, String(e));
        assert.match(e.message, /^saved plan p\.json is malformed: /);
        assert.match(e.message, message);
        return true;
      });
    });
  }
  assert.deepEqual(parseSavedPlan(JSON.stringify(file), "p.json"), file);
});

Deno.test("saved plan: a stack file is not taken for one; show renders one as plan did", async () => {
  // A saved plan under any name is found by content: tests/kernel/cli_test.ts (p1.tfplan).
  assert.equal(isSavedPlanFile(new URL("./saved_plan.ts", import.meta.url).pathname), false);
  assert.equal(isSavedPlanFile("/nonexistent/p1.tfplan"), false);
  assert.equal(isSavedPlanFile("/nonexistent/any.json"), true, ".json names keep their meaning");
  const store = fakeStore();
  await applyStack(base(), store);
  const p = await plan(wanted(), store);
  const file = parseSavedPlan(JSON.stringify(toSavedPlan(p, "stack.ts", store.root)), "p1.tfplan");
  assert.equal(renderPlan(planFromSaved(file), { color: false }), renderPlan(p, { color: false }));
});
