import assert from "node:assert/strict";
import { applyStack, destroyStack, showStack } from "./session.ts";
import { hasChanges, type Plan, plan } from "./plan.ts";
import { Stack } from "./stack.ts";
import { fakeStore } from "./testing/fake.ts";
import { FakeThing } from "../tests/helpers/fake_resource.ts";

const DIR = "/fake/sockform/demo";
const thing = (name: string, size = 1, dependsOn: string[] = []) =>
  new FakeThing(name, { size }, { dependsOn });

/** The log split into the stretches each lock holder ran, without the lock lines. */
function holders(log: string[]): string[][] {
  const out: string[][] = [];
  for (const line of log) {
    if (line === `lock ${DIR}`) out.push([]);
    else if (line !== `unlock ${DIR}`) out.at(-1)!.push(line);
  }
  return out;
}

Deno.test("session: concurrent applies do not interleave; the second sees the first", async () => {
  const store = fakeStore();
  const stack = new Stack("demo", [thing("a"), thing("b")]);
  const [first, second] = await Promise.all([applyStack(stack, store), applyStack(stack, store)]);
  assert.equal(first.applied, 2);
  assert.equal(second.applied, 0);
  assert.equal(hasChanges(second.plan), false, "the second plan ran after the first apply");
  assert.equal(store.lockWaits, 1);
  assert.ok(store.log.at(-1) === `unlock ${DIR}`);
  const [ran1, ran2] = holders(store.log);
  assert.deepEqual(ran1.filter((l) => l.startsWith("create")), ["create a", "create b"]);
  assert.deepEqual(ran2, ["resolve a", "observe a", "resolve b", "observe b"]);
  assert.deepEqual(store.names("demo"), ["a", "b"]);
});

Deno.test("session: a waiting apply plans against the state the first one left", async () => {
  const store = fakeStore();
  const small = new Stack("demo", [thing("a")]);
  const big = new Stack("demo", [thing("a"), thing("b", 2)]);
  const [, second] = await Promise.all([applyStack(small, store), applyStack(big, store)]);
  assert.deepEqual(second.plan.steps.map((s) => s.action), ["no-op", "create"]);
  assert.equal(second.applied, 1);
  assert.equal(holders(store.log).length, 2);
});

Deno.test("session: the lock is released when apply fails", async () => {
  const store = fakeStore();
  store.failOn("create", "a");
  const stack = new Stack("demo", [thing("a")]);
  await assert.rejects(applyStack(stack, store), { name: "StepError" });
  assert.equal(store.log.at(-1), `unlock ${DIR}`);
  assert.equal((await applyStack(stack, store)).applied, 1);
});

Deno.test("session: confirm sees the plan and can abort before anything changes", async () => {
  const store = fakeStore();
  const stack = new Stack("demo", [thing("a")]);
  let seen: Plan | undefined;
  const outcome = await applyStack(stack, store, {
    confirm: (p) => {
      seen = p;
      return false;
    },
  });
  assert.deepEqual([outcome.aborted, outcome.applied], [true, 0]);
  assert.equal(seen, outcome.plan);
  assert.deepEqual(store.snapshot(), { dirs: {}, live: [] });
  assert.equal((await applyStack(stack, store, { confirm: () => true })).applied, 1);
  let asked = false;
  const again = await applyStack(stack, store, { confirm: () => (asked = true) });
  assert.equal(asked, false, "nothing to confirm when nothing changes");
  assert.equal(again.applied, 0);
});

Deno.test("session: destroy removes everything the stack owns, and only that", async () => {
  const store = fakeStore();
  const stack = new Stack("demo", [thing("b", 1, ["a"]), thing("a"), thing("c", 1, ["b"])]);
  await applyStack(stack, store);
  await applyStack(new Stack("other", [thing("a")]), store);
  store.addOrphan("demo", "stray", "FakeThing", { size: 3 });
  store.addPartial("demo", "half");
  const outcome = await destroyStack(stack, store);
  assert.equal(outcome.applied, 5);
  assert.deepEqual(outcome.plan.steps.map((s) => s.name), ["stray", "half", "c", "b", "a"]);
  assert.deepEqual(store.names("demo"), []);
  assert.deepEqual(store.names("other"), ["a"]);
  assert.equal(store.snapshot().live.length, 1, "only the other stack's object is alive");
  assert.equal((await destroyStack(stack, store)).applied, 0, "destroying again is a no-op");
});

Deno.test("session: destroy can be aborted", async () => {
  const store = fakeStore();
  const stack = new Stack("demo", [thing("a")]);
  await applyStack(stack, store);
  const outcome = await destroyStack(stack, store, { confirm: () => false });
  assert.equal(outcome.aborted, true);
  assert.deepEqual(store.names("demo"), ["a"]);
});

Deno.test("session: show reports deployment, sync and state per resource", async () => {
  const store = fakeStore();
  const stack = new Stack("demo", [thing("a"), thing("b", 2), thing("new")]);
  await applyStack(new Stack("demo", [thing("a"), thing("b", 2), thing("gone")]), store);
  store.editState("demo", "b", () => ({ size: 5 }));
  const shown = await showStack(stack, store);
  assert.deepEqual(shown.map((r) => [r.address, r.deployed, r.inSync]), [
    ["FakeThing.a", true, true],
    ["FakeThing.b", true, false],
    ["FakeThing.new", false, false],
    ["FakeThing.gone", true, false],
  ]);
  assert.deepEqual(shown[1].state, { size: 5 });
  assert.equal(shown[1].meta?.kind, "FakeThing");
  assert.equal(shown[2].meta, null);
  assert.equal(shown[0].details, undefined, "the fake driver has no describe()");
});

Deno.test("session: show takes no lock and changes nothing", async () => {
  const store = fakeStore();
  const stack = new Stack("demo", [thing("a")]);
  await applyStack(stack, store);
  const before = store.snapshot();
  const from = store.log.length;
  await showStack(stack, store);
  assert.deepEqual(store.snapshot(), before);
  assert.ok(store.log.slice(from).every((l) => /^(resolve|observe) /.test(l)));
  assert.equal(hasChanges(await plan(stack, store)), false);
});
