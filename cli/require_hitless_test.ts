import assert from "node:assert/strict";
import { assertHitless } from "./require_hitless.ts";
import { applyStack } from "../engine/session.ts";
import { plan } from "../engine/plan.ts";
import { Stack } from "../engine/stack.ts";
import { fakeStore } from "../engine/testing/fake.ts";
import { FakeThing } from "../tests/helpers/fake_resource.ts";

const stack = (size: number, label: string) =>
  new Stack("demo", [
    new FakeThing("a", { size, label }),
    new FakeThing("b", { size: 1, label }),
  ]);

Deno.test("require-hitless: passes creates and hitless updates, names each step that is not", async () => {
  const store = fakeStore();
  assertHitless(await plan(stack(1, "x"), store)); // creates are hitless
  await applyStack(stack(1, "x"), store);
  assertHitless(await plan(stack(1, "y"), store)); // label: hitless update
  const p = await plan(stack(2, "x"), store); // size: not hitless
  assert.throws(
    () => assertHitless(p),
    { message: "--require-hitless: 1 step(s) not hitless: FakeThing.a (update)" },
  );
});

Deno.test("require-hitless: as apply's confirm, it stops the apply before any change", async () => {
  const store = fakeStore();
  await applyStack(stack(1, "x"), store);
  const before = store.snapshot();
  await assert.rejects(
    applyStack(stack(2, "x"), store, { confirm: (p) => (assertHitless(p), true) }),
    /not hitless: FakeThing.a \(update\)/,
  );
  assert.deepEqual(store.snapshot(), before);
});
