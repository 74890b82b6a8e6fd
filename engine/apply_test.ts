import assert from "node:assert/strict";
import { apply, Journal, stepLabel } from "./apply.ts";
import { driverContext, hasChanges, plan } from "./plan.ts";
import { applyStack } from "./session.ts";
import { Stack } from "./stack.ts";
import { StepError } from "./errors.ts";
import { type FakeStore, fakeStore } from "./testing/fake.ts";
import { FakeThing, type FakeThingSpec } from "../tests/helpers/fake_resource.ts";

const thing = (name: string, spec: FakeThingSpec = { size: 1 }) => new FakeThing(name, spec);
const abc = () => new Stack("demo", [thing("a"), thing("b"), thing("c")]);
const undoLines = (store: FakeStore) => store.log.filter((l) => l.startsWith("undo "));

/** Runs `fn` with SOCKFORM_FAULT set, restoring the environment afterwards. */
async function withFault<T>(value: string, fn: () => Promise<T>): Promise<T> {
  const saved = Deno.env.get("SOCKFORM_FAULT");
  Deno.env.set("SOCKFORM_FAULT", value);
  try {
    return await fn();
  } finally {
    if (saved === undefined) Deno.env.delete("SOCKFORM_FAULT");
    else Deno.env.set("SOCKFORM_FAULT", saved);
  }
}

Deno.test("apply: a failing step rolls back the earlier ones and names itself", async () => {
  const store = fakeStore();
  store.failOn("create", "b", { message: "EPERM" });
  await assert.rejects(applyStack(abc(), store), (e: unknown) => {
    assert.ok(e instanceof StepError);
    assert.equal(e.message, 'step "create FakeThing.b" failed: EPERM; rolled back 1 change(s)');
    assert.equal(e.step, "create FakeThing.b");
    assert.deepEqual(e.rolledBack, ["undo create FakeThing.a"]);
    assert.deepEqual(e.rollbackFailures, []);
    return true;
  });
  assert.deepEqual(store.snapshot(), { dirs: {}, live: [] });
  assert.ok(!store.log.includes("create c"), "nothing runs after the failure");
});

Deno.test("apply: rollback runs newest first", async () => {
  const store = fakeStore();
  store.failOn("create", "c");
  await assert.rejects(applyStack(abc(), store), /rolled back 2 change\(s\)/);
  assert.deepEqual(undoLines(store), ["undo create b", "undo create a"]);
  assert.deepEqual(store.snapshot(), { dirs: {}, live: [] });
});

Deno.test("apply: the first step failing has nothing to roll back", async () => {
  const store = fakeStore();
  store.failOn("create", "a", { message: "no memory" });
  await assert.rejects(applyStack(abc(), store), {
    message: 'step "create FakeThing.a" failed: no memory; nothing to roll back',
  });
});

Deno.test("apply: a step failing halfway undoes its own partial work too", async () => {
  const store = fakeStore();
  store.failOn("create", "b", { at: "midway" });
  await assert.rejects(applyStack(abc(), store), /create FakeThing\.b.*rolled back 2 change/);
  assert.deepEqual(undoLines(store), ["undo create b", "undo create a"]);
  assert.deepEqual(store.snapshot(), { dirs: {}, live: [] });
});

Deno.test("apply: a failed undo is reported and what remains shows in the next plan", async () => {
  const store = fakeStore();
  store.failOn("create", "c", { message: "EBUSY" });
  store.failOn("undo", "a", { message: "stuck" });
  await assert.rejects(applyStack(abc(), store), {
    message: 'step "create FakeThing.c" failed: EBUSY; rolled back 1 change(s); ' +
      "rollback FAILED for: undo create FakeThing.a (stuck) (run plan to see what remains)",
  });
  assert.deepEqual(store.names("demo"), ["a"]);
  const next = await plan(abc(), store);
  assert.deepEqual(next.steps.map(stepLabel), [
    "no-op FakeThing.a",
    "create FakeThing.b",
    "create FakeThing.c",
  ]);
});

Deno.test("apply: a failed replace restores the old resource and frees nothing", async () => {
  const store = fakeStore();
  await applyStack(new Stack("demo", [thing("r", { size: 1, flavor: "x" })]), store);
  const before = store.snapshot();
  store.failOn("create", "r");
  const next = new Stack("demo", [thing("r", { size: 1, flavor: "y" })]);
  await assert.rejects(applyStack(next, store), /step "replace FakeThing\.r" failed/);
  assert.deepEqual(store.snapshot(), before);
  assert.deepEqual(undoLines(store), ["undo delete r"]);
  assert.ok(!store.log.some((l) => l.startsWith("commit")), "no irreversible work ran");
});

Deno.test("apply: irreversible work waits until every step succeeded", async () => {
  const store = fakeStore();
  await applyStack(new Stack("demo", [thing("old"), thing("r", { size: 1, flavor: "x" })]), store);
  const from = store.log.length;
  await applyStack(new Stack("demo", [thing("r", { size: 1, flavor: "y" }), thing("n")]), store);
  const ops = store.log.slice(from).filter((l) => !/^(lock|unlock|resolve|observe) /.test(l));
  assert.deepEqual(ops, [
    "delete r",
    "create r",
    "create n",
    "delete old",
    "commit delete r",
    "commit delete old",
  ]);
  assert.equal(store.snapshot().live.length, 2, "the replaced and deleted objects were freed");
});

Deno.test("apply: a failing commit only warns", async () => {
  const store = fakeStore();
  await applyStack(new Stack("demo", [thing("old")]), store);
  store.failOn("commit", "old", { message: "close failed" });
  const warnings: string[] = [];
  const progress: string[] = [];
  const reporter = {
    progress: (m: string) => progress.push(m),
    warn: (m: string) => warnings.push(m),
  };
  const outcome = await applyStack(new Stack("demo", [thing("n")]), store, { reporter });
  assert.equal(outcome.applied, 2);
  assert.deepEqual(warnings, ["after apply: free FakeThing.old failed: close failed"]);
  assert.ok(progress.includes("[1/2] create FakeThing.n"));
  assert.ok(progress.includes("[2/2] delete FakeThing.old"));
  assert.deepEqual(store.names("demo"), ["n"]);
});

Deno.test("apply: returns the number of steps it ran, skipping no-ops", async () => {
  const store = fakeStore();
  const stack = new Stack("demo", [thing("a")]);
  await applyStack(stack, store);
  const bigger = new Stack("demo", [thing("a"), thing("b")]);
  const p = await plan(bigger, store);
  assert.equal(await apply(p, store, driverContext(bigger, p.stackDir)), 1);
  assert.equal(hasChanges(await plan(bigger, store)), false);
});

Deno.test("journal: undos run newest first, commits oldest first", async () => {
  const journal = new Journal();
  const ran: string[] = [];
  journal.onRollback("u1", () => void ran.push("u1"));
  journal.onRollback("u2", () => {
    throw new Error("nope");
  });
  journal.onRollback("u3", () => Promise.resolve().then(() => void ran.push("u3")));
  journal.onCommit("c1", () => void ran.push("c1"));
  journal.onCommit("c2", () => void ran.push("c2"));
  assert.deepEqual(await journal.rollback(), { done: ["u3", "u1"], failed: ["u2 (nope)"] });
  await journal.commit({ progress() {}, warn() {} });
  assert.deepEqual(ran, ["u3", "u1", "c1", "c2"]);
});

// The SOCKFORM_FAULT scenario: from {keep, upd, rep, gone} to {keep, upd', rep', fresh}.
const FROM = new Stack("demo", [
  thing("keep"),
  thing("upd", { size: 1, label: "old" }),
  thing("rep", { size: 1, flavor: "x" }),
  thing("gone"),
]);
const TO = new Stack("demo", [
  thing("keep"),
  thing("upd", { size: 1, label: "new" }),
  thing("rep", { size: 1, flavor: "y" }),
  thing("fresh"),
]);
const STEPS = [
  "update FakeThing.upd",
  "replace FakeThing.rep",
  "create FakeThing.fresh",
  "delete FakeThing.gone",
];
/** Undo entries registered up to and including each step (a replace registers two). */
const UNDOS = [1, 3, 4, 5];

async function scenario(): Promise<FakeStore> {
  const store = fakeStore();
  await applyStack(FROM, store);
  const p = await plan(TO, store);
  assert.deepEqual(p.steps.filter((s) => s.action !== "no-op").map(stepLabel), STEPS);
  return store;
}

async function assertConverges(store: FakeStore): Promise<void> {
  await applyStack(TO, store);
  assert.equal(hasChanges(await plan(TO, store)), false);
  assert.deepEqual(store.names("demo"), ["fresh", "keep", "rep", "upd"]);
  assert.equal(store.snapshot().live.length, 4, "no leaked objects");
}

Deno.test("apply: SOCKFORM_FAULT=fail-after:N leaves the kernel exactly as before", async (t) => {
  for (let n = 1; n <= STEPS.length; n++) {
    await t.step(`fail-after:${n}`, async () => {
      const store = await scenario();
      const before = store.snapshot();
      await withFault(`fail-after:${n}`, () =>
        assert.rejects(applyStack(TO, store), {
          name: "StepError",
          message: `step "${STEPS[n - 1]}" failed: injected fault (SOCKFORM_FAULT); ` +
            `rolled back ${UNDOS[n - 1]} change(s)`,
        }));
      assert.deepEqual(store.snapshot(), before);
      assert.ok(!store.log.some((l) => l.startsWith("commit")), "nothing irreversible ran");
      await assertConverges(store);
    });
  }
  await t.step("a fault after the last step never fires", async () => {
    const store = await scenario();
    await withFault(`fail-after:${STEPS.length + 1}`, () => applyStack(TO, store));
    assert.equal(hasChanges(await plan(TO, store)), false);
  });
});

// What a SIGKILL leaves at every point of every driver call, and that apply converges from it.
const CALLS = [
  ["update", "upd"],
  ["delete", "rep"],
  ["create", "rep"],
  ["create", "fresh"],
  ["delete", "gone"],
] as const;

Deno.test("apply: converges after a simulated kill -9 anywhere", async (t) => {
  for (const [op, name] of CALLS) {
    for (const at of ["start", "midway", "end"] as const) {
      await t.step(`kill at ${at} of ${op} ${name}`, async () => {
        const store = await scenario();
        store.failOn(op, name, { at, crash: true });
        await assert.rejects(applyStack(TO, store));
        assert.ok(store.crashed, "the crash fault fired");
        const rebooted = store.reboot();
        const remains = await plan(TO, rebooted);
        assert.ok(hasChanges(remains) || (op === "delete" && name === "gone" && at !== "start"));
        await assertConverges(rebooted);
      });
    }
  }
});
