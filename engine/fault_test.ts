import assert from "node:assert/strict";
import { faultAfter, faultSetting } from "./fault.ts";

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
    () => assert.deepEqual(faultSetting(), { mode: "fail", after: 3 }),
  );
  await withFault(
    "kill-after:12",
    () => assert.deepEqual(faultSetting(), { mode: "kill", after: 12 }),
  );
  for (
    const bad of ["fail-after:", "fail-after:x", "crash-after:1", " fail-after:1", "fail-after:1;"]
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
