import assert from "node:assert/strict";
import { stateAddresses } from "./state_list.ts";
import { applyStack, destroyStack } from "../engine/session.ts";
import { Stack } from "../engine/stack.ts";
import { fakeStore } from "../engine/testing/fake.ts";
import { FakeThing } from "../tests/helpers/fake_resource.ts";

Deno.test("state list: the applied resources' addresses, sorted; none before apply or after destroy", async () => {
  const store = fakeStore();
  const stack = new Stack("demo", [
    new FakeThing("b", { size: 1 }),
    new FakeThing("a", { size: 2 }),
  ]);
  assert.deepEqual(stateAddresses(store, "demo"), []);
  await applyStack(stack, store);
  assert.deepEqual(stateAddresses(store, "demo"), ["FakeThing.a", "FakeThing.b"]);
  assert.deepEqual(stateAddresses(store, "other"), []);
  await destroyStack(stack, store);
  assert.deepEqual(stateAddresses(store, "demo"), []);
});
