import assert from "node:assert/strict";
import { hasChanges, type Plan, plan } from "./plan.ts";
import { applyStack } from "./session.ts";
import { Stack } from "./stack.ts";
import { hashJson } from "./hash.ts";
import { fakeStore } from "./testing/fake.ts";
import { FakeThing, type FakeThingSpec } from "../tests/helpers/fake_resource.ts";

const DIR = "/fake/sockform/demo";
const thing = (name: string, spec: FakeThingSpec, dependsOn: string[] = []) =>
  new FakeThing(name, spec, { dependsOn });
const actions = (p: Plan) => p.steps.map((s) => `${s.action} ${s.address}`);

/** A store where `stack` has been applied. */
async function deployed(stack: Stack, kinds?: string[]) {
  const store = fakeStore({ kinds });
  await applyStack(stack, store);
  return store;
}

Deno.test("plan: an empty kernel means create everything, in dependency order", async () => {
  const store = fakeStore();
  const stack = new Stack("demo", [thing("b", { size: 2 }, ["a"]), thing("a", { size: 1 })]);
  const p = await plan(stack, store);
  assert.deepEqual(actions(p), ["create FakeThing.a", "create FakeThing.b"]);
  const [a] = p.steps;
  assert.equal(a.dir, `${DIR}/a`);
  assert.equal(a.observed, null);
  assert.equal(a.specHash, hashJson({ size: 1 }));
  assert.deepEqual(a.spec, { size: 1 });
  assert.deepEqual(a.changes.map((c) => [c.path, c.before, c.after]), [["size", undefined, 1]]);
  assert.equal(a.hitless, true);
  assert.deepEqual(a.drift, []);
  assert.equal(p.stack, "demo");
  assert.equal(p.stackDir, DIR);
  assert.ok(hasChanges(p));
});

Deno.test("plan: is read-only and takes no lock", async () => {
  const store = await deployed(new Stack("demo", [thing("a", { size: 1 })]));
  store.addOrphan("demo", "old", "FakeThing", { size: 9 });
  const before = store.snapshot();
  const logged = store.log.length;
  await plan(new Stack("demo", [thing("a", { size: 2 }), thing("n", { size: 1 })]), store);
  assert.deepEqual(store.snapshot(), before);
  const ops = store.log.slice(logged).map((l) => l.split(" ")[0]);
  assert.deepEqual([...new Set(ops)].sort(), ["observe", "resolve"]);
});

Deno.test("plan: after apply every step is a no-op", async () => {
  const stack = new Stack("demo", [thing("a", { size: 1, label: "x", flavor: "f" })]);
  const p = await plan(stack, await deployed(stack));
  assert.deepEqual(actions(p), ["no-op FakeThing.a"]);
  assert.deepEqual(p.steps[0].changes, []);
  assert.equal(hasChanges(p), false);
});

Deno.test("plan: field changes update in place; hitless follows the fields", async () => {
  const store = await deployed(
    new Stack("demo", [thing("a", { size: 1 }), thing("b", { size: 1 })]),
  );
  const p = await plan(
    new Stack("demo", [thing("a", { size: 1, label: "new" }), thing("b", { size: 2 })]),
    store,
  );
  assert.deepEqual(actions(p), ["update FakeThing.a", "update FakeThing.b"]);
  const [a, b] = p.steps;
  assert.deepEqual(a.changes, [{
    path: "label",
    before: undefined,
    after: "new",
    reason: "label not set in the kernel",
    hitless: true,
  }]);
  assert.equal(a.hitless, true);
  assert.deepEqual(b.changes.map((c) => [c.path, c.before, c.after, c.hitless]), [
    ["size", 1, 2, false],
  ]);
  assert.equal(b.hitless, false);
  assert.deepEqual(a.drift, [], "a spec change is not drift");
});

Deno.test("plan: a change that forces replacement makes a replace step", async () => {
  const store = await deployed(new Stack("demo", [thing("a", { size: 1, flavor: "x" })]));
  const p = await plan(new Stack("demo", [thing("a", { size: 1, flavor: "y" })]), store);
  assert.deepEqual(actions(p), ["replace FakeThing.a"]);
  assert.equal(p.steps[0].changes[0].forcesReplace, true);
  assert.equal(p.steps[0].hitless, false);
});

Deno.test("plan: a resource the stack no longer declares is deleted, after the rest", async () => {
  const store = await deployed(
    new Stack("demo", [thing("a", { size: 1 }), thing("b", { size: 1 })]),
  );
  const p = await plan(
    new Stack("demo", [thing("c", { size: 1 }), thing("b", { size: 1 })]),
    store,
  );
  assert.deepEqual(actions(p), ["create FakeThing.c", "no-op FakeThing.b", "delete FakeThing.a"]);
  const del = p.steps[2];
  assert.equal(del.specHash, "");
  assert.equal(del.spec, undefined);
  assert.equal(del.hitless, false);
  assert.equal(del.changes[0].reason, "no longer declared in the stack");
  assert.deepEqual(del.observed?.state, { size: 1 });
});

Deno.test("plan: an orphan directory and a partial one (no metadata) are deleted", async () => {
  const store = fakeStore();
  store.addOrphan("demo", "old", "FakeThing", { size: 3 });
  store.addPartial("demo", "half", { size: 4 });
  const p = await plan(new Stack("demo", []), store);
  assert.deepEqual(actions(p), ["delete FakeThing.old", "delete unknown.half"]);
  const partial = p.steps[1];
  assert.deepEqual(partial.observed, { meta: null, state: null });
  assert.equal(partial.changes[0].before, "(partial)");
  assert.match(partial.changes[0].reason, /unfinished resource \(no metadata\)/);
  await applyStack(new Stack("demo", []), store);
  assert.deepEqual(store.snapshot(), { dirs: {}, live: [] });
});

Deno.test("plan: a declared resource without metadata (interrupted create) is replaced", async () => {
  const stack = new Stack("demo", [thing("a", { size: 1 })]);
  const store = await deployed(stack);
  store.dropMeta("demo", "a");
  const p = await plan(stack, store);
  assert.deepEqual(actions(p), ["replace FakeThing.a"]);
  assert.equal(p.steps[0].observed?.meta, null);
  await applyStack(stack, store);
  assert.equal(store.read("demo", "a")?.meta?.specHash, hashJson({ size: 1 }));
  assert.equal(store.snapshot().live.length, 1, "the partial's object was freed");
  assert.equal(hasChanges(await plan(stack, store)), false);
});

Deno.test("plan: same spec but a different kernel is drift; apply repairs it", async () => {
  const stack = new Stack("demo", [thing("a", { size: 1, label: "x" })]);
  const store = await deployed(stack);
  store.editState("demo", "a", (s) => ({ ...(s as FakeThingSpec), size: 7 }));
  const p = await plan(stack, store);
  assert.deepEqual(actions(p), ["update FakeThing.a"]);
  assert.deepEqual(p.steps[0].drift, p.steps[0].changes);
  assert.deepEqual(p.steps[0].drift.map((d) => [d.path, d.before, d.after]), [["size", 7, 1]]);
  await applyStack(stack, store);
  assert.deepEqual(store.read("demo", "a")?.state, { size: 1, label: "x" });
  assert.equal(hasChanges(await plan(stack, store)), false);
});

Deno.test("plan: drift that forces replacement is a replace with drift", async () => {
  const stack = new Stack("demo", [thing("a", { size: 1, flavor: "x" })]);
  const store = await deployed(stack);
  store.editState("demo", "a", (s) => ({ ...(s as FakeThingSpec), flavor: "swapped" }));
  const p = await plan(stack, store);
  assert.deepEqual(actions(p), ["replace FakeThing.a"]);
  assert.deepEqual(p.steps[0].drift.map((d) => d.path), ["flavor"]);
});

Deno.test("plan: a changed spec is not reported as drift even if the kernel was edited", async () => {
  const store = await deployed(new Stack("demo", [thing("a", { size: 1 })]));
  store.editState("demo", "a", () => ({ size: 7 }));
  const p = await plan(new Stack("demo", [thing("a", { size: 2 })]), store);
  assert.deepEqual(actions(p), ["update FakeThing.a"]);
  assert.deepEqual(p.steps[0].drift, []);
  assert.deepEqual(p.steps[0].changes.map((c) => [c.before, c.after]), [[7, 2]]);
});

Deno.test("plan: a resource that changed kind is replaced through both drivers", async () => {
  const kinds = ["FakeThing", "OtherThing"];
  const store = await deployed(new Stack("demo", [thing("a", { size: 1 })]), kinds);
  const moved = new Stack("demo", [new FakeThing("a", { size: 1 }, { kind: "OtherThing" })]);
  const p = await plan(moved, store);
  assert.deepEqual(actions(p), ["replace OtherThing.a"]);
  assert.deepEqual(p.steps[0].changes.map((c) => [c.path, c.before, c.after, c.forcesReplace]), [
    ["kind", "FakeThing", "OtherThing", true],
  ]);
  await applyStack(moved, store);
  assert.equal(store.read("demo", "a")?.meta?.kind, "OtherThing");
  assert.equal(store.snapshot().live.length, 1, "the old object was freed");
  assert.equal(hasChanges(await plan(moved, store)), false);
});

Deno.test("plan: destroy deletes dependents before what they depend on", async () => {
  // Names sort against the dependency order on purpose: a needs z, z needs m.
  const stack = new Stack("demo", [
    thing("a", { size: 1 }, ["z"]),
    thing("z", { size: 1 }, ["m"]),
    thing("m", { size: 1 }),
  ]);
  const store = await deployed(stack);
  store.addOrphan("demo", "stray", "FakeThing", { size: 1 });
  const p = await plan(stack, store, { destroy: true });
  assert.deepEqual(actions(p), [
    "delete FakeThing.stray",
    "delete FakeThing.a",
    "delete FakeThing.z",
    "delete FakeThing.m",
  ]);
});

Deno.test("plan: the token covers everything observed", async () => {
  const stack = new Stack("demo", [thing("a", { size: 1 }), thing("b", { size: 1 })]);
  const store = await deployed(stack);
  const token = (await plan(stack, store)).token;
  assert.match(token, /^[0-9a-f]{64}$/);
  assert.equal((await plan(stack, store)).token, token, "same kernel, same token");
  const more = new Stack("demo", [
    thing("a", { size: 1 }),
    thing("b", { size: 1 }),
    thing("x", { size: 1 }),
  ]);
  assert.equal((await plan(more, store)).token, token, "a resource not in the kernel is not in it");
  store.editState("demo", "b", (s) => s); // rewriting identical state changes nothing
  assert.equal((await plan(stack, store)).token, token);
  store.editState("demo", "b", () => ({ size: 2 }));
  const edited = (await plan(stack, store)).token;
  assert.notEqual(edited, token);
  store.addPartial("demo", "junk");
  assert.notEqual((await plan(stack, store)).token, edited, "a new directory changes it");
});

Deno.test("plan: resolve errors and unknown kinds propagate", async () => {
  const store = fakeStore();
  store.failOn("resolve", "a", { message: "a.listener: nothing listens on tcp://127.0.0.1:1" });
  await assert.rejects(
    plan(new Stack("demo", [thing("a", { size: 1 })]), store),
    { message: "a.listener: nothing listens on tcp://127.0.0.1:1" },
  );
  const odd = new Stack("demo", [new FakeThing("a", { size: 1 }, { kind: "Nope" })]);
  await assert.rejects(plan(odd, store), { message: 'no driver for resource kind "Nope"' });
});

Deno.test("plan: replacing an unfinished resource (no metadata) is not hitless, and says why", async () => {
  const stack = new Stack("demo", [thing("a", { size: 1, label: "x" })]);
  const store = fakeStore();
  store.addPartial("demo", "a", null);
  const p = await plan(stack, store);
  assert.deepEqual(actions(p), ["replace FakeThing.a"]);
  assert.equal(p.steps[0].hitless, false, "the partial directory goes before the create");
  const why = p.steps[0].changes.find((c) => !c.hitless);
  assert.match(why?.reason ?? "", /removed before the new one is created/);
});

Deno.test("plan: a duck-typed stack or resource named ../x is refused before any path is made", async (t) => {
  const opened: string[] = [];
  const store = { ...fakeStore(), openStack: (n: string) => (opened.push(n), `${DIR}/${n}`) };
  const duck = (name: string, res: string[], ordered = res) => {
    const mk = (n: string) => ({ ...thing("a", { size: 1 }), kind: "FakeThing", name: n });
    return { name, resources: res.map(mk), ordered: () => ordered.map(mk), validate() {} };
  };
  const cases: [string, ReturnType<typeof duck>, RegExp][] = [
    ["stack name", duck("../../../x", ["a"]), /stack name "\.\.\/\.\.\/\.\.\/x" must match/],
    ["resource name", duck("demo", ["../a"]), /\.\.\/a\.name: must match/],
    ["ordered() differs", duck("demo", ["a"], ["../../b"]), /\.\.\/\.\.\/b\.name: must match/],
  ];
  for (const [what, stack, message] of cases) {
    await t.step(what, async () => {
      await assert.rejects(plan(stack as unknown as Stack, store), message);
      assert.deepEqual(opened, []);
    });
  }
});
