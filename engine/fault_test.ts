import assert from "node:assert/strict";
import { faultAfter, faultSetting, InjectedFault } from "./fault.ts";
import { Journal } from "./apply.ts";

/** Runs `fn` with SOCKFORM_FAULT set (or unset), restoring the environment afterwards. */
async function withFault(value: string | undefined, fn: () => Promise<void> | void) {
  const saved = Deno.env.get("SOCKFORM_FAULT");
  if (value === undefined) Deno.env.delete("SOCKFORM_FAULT");
  else Deno.env.set("SOCKFORM_FAULT", value);
  try {
    await fn();
  } finally {
    if (saved === undefined) Deno.env.delete("SOCKFORM_FAULT");
    else Deno.env.set("SOCKFORM_FAULT", saved);
  }
}

Deno.test("fault: SOCKFORM_FAULT parses fail-after and kill-after, ignores the rest", async () => {
  await withFault(undefined, () => assert.equal(faultSetting(), null));
  await withFault(
    "fail-after:3",
    () => assert.deepEqual(faultSetting(), { mode: "fail", point: "after", after: 3 }),
  );
  await withFault(
    "kill-after:12",
    () => assert.deepEqual(faultSetting(), { mode: "kill", point: "after", after: 12 }),
  );
  await withFault(
    "kill-at-change:4",
    () => assert.deepEqual(faultSetting(), { mode: "kill", point: "at-change", after: 4 }),
  );
  for (
    const bad of ["fail-after:", "fail-after:x", "crash-after:1", " fail-after:1", "fail-at:1"]
  ) {
    await withFault(bad, () => assert.equal(faultSetting(), null, bad));
  }
});

Deno.test("fault: fail mode calls the failure only after the chosen step", async () => {
  await withFault("fail-after:2", async () => {
    const calls: number[] = [];
    for (let done = 1; done <= 4; done++) {
      await faultAfter(done, () => Promise.resolve(void calls.push(done)));
    }
    assert.deepEqual(calls, [2]);
  });
  await withFault(undefined, async () => {
    let called = false;
    await faultAfter(1, () => Promise.resolve(void (called = true)));
    assert.equal(called, false);
  });
});

Deno.test("fault: fail-at-change:N throws right after the Nth undo is registered", async () => {
  await withFault("fail-at-change:2", async () => {
    const journal = new Journal();
    const undone: string[] = [];
    journal.onRollback("first", () => undone.push("first"));
    assert.throws(
      () => journal.onRollback("second", () => undone.push("second")),
      (e: unknown) =>
        e instanceof InjectedFault &&
        e.message === "injected fault (SOCKFORM_FAULT) at change 2 (second)",
    );
    // The change that tripped the fault is covered: its undo was registered first.
    const { failed } = await journal.rollback();
    assert.deepEqual(failed, []);
    assert.deepEqual(undone, ["second", "first"]);
  });
});

Deno.test("fault: change faults never fire while rolling back, nor for step faults", async () => {
  await withFault("fail-at-change:2", async () => {
    const journal = new Journal();
    journal.onRollback("first", () => journal.onRollback("registered by an undo", () => {}));
    const { failed } = await journal.rollback();
    assert.deepEqual(failed, [], "the second registration came during rollback");
  });
  await withFault("fail-after:2", () => {
    const journal = new Journal();
    for (let i = 0; i < 3; i++) journal.onRollback(`change ${i}`, () => {});
    assert.equal(journal.undos.length, 3);
  });
});
