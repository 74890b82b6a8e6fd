import assert from "node:assert/strict";
import { targetPlan } from "./target.ts";
import { parseSavedPlan, toSavedPlan } from "./saved_plan.ts";
import { plan } from "./plan.ts";
import { applyStack, destroyStack } from "./session.ts";
import { Stack } from "./stack.ts";
import { fakeStore } from "./testing/fake.ts";
import { FakeThing } from "../tests/helpers/fake_resource.ts";

const thing = (name: string, dependsOn: string[] = []) =>
  new FakeThing(name, { size: 1 }, { dependsOn });
const stack = new Stack("demo", [
  thing("base"),
  thing("mid", ["base"]),
  thing("top", ["mid"]),
  thing("other"),
]);
const addresses = (p: { steps: { address: string; action: string }[] }) =>
  p.steps.map((s) => `${s.action} ${s.address}`);

Deno.test("target: the targeted resource and, transitively, what it depends on", async () => {
  const p = await plan(stack, fakeStore());
  assert.deepEqual(addresses(targetPlan(p, stack, ["FakeThing.top"])), [
    "create FakeThing.base",
    "create FakeThing.mid",
    "create FakeThing.top",
  ]);
  assert.deepEqual(addresses(targetPlan(p, stack, ["FakeThing.mid", "FakeThing.other"])), [
    "create FakeThing.base",
    "create FakeThing.mid",
    "create FakeThing.other",
  ]);
  assert.equal(targetPlan(p, stack, []), p);
  assert.deepEqual(addresses(targetPlan(p, stack, ["FakeThing.nope"])), []);
});

Deno.test("target: an applied targeted plan leaves the rest; a removed resource is a targeted delete", async () => {
  const store = fakeStore();
  await applyStack(stack, store, { targets: ["FakeThing.mid"] });
  assert.deepEqual(store.names("demo").sort(), ["base", "mid"]);
  await applyStack(stack, store);
  const shrunk = new Stack("demo", [thing("base"), thing("other")]);
  const p = targetPlan(await plan(shrunk, store), shrunk, ["FakeThing.top"]);
  assert.deepEqual(addresses(p).filter((a) => !a.startsWith("no-op")), ["delete FakeThing.top"]);
});

Deno.test("target: destroy -target takes the target and, transitively, what depends on it", async () => {
  const store = fakeStore();
  await applyStack(stack, store);
  const gone = targetPlan(
    await plan(stack, store, { destroy: true }),
    stack,
    ["FakeThing.mid"],
    "dependents",
  );
  assert.deepEqual(addresses(gone).sort(), ["delete FakeThing.mid", "delete FakeThing.top"]);
});

Deno.test("target: destroyStack with targets leaves the rest deployed", async () => {
  const store = fakeStore();
  await applyStack(stack, store);
  await destroyStack(stack, store, { targets: ["FakeThing.mid"] });
  assert.deepEqual(store.names("demo").sort(), ["base", "other"]);
});

Deno.test("target: a targeted saved plan keeps its targets, and apply of it does only those", async () => {
  const store = fakeStore();
  const targets = ["FakeThing.mid"];
  const p = targetPlan(await plan(stack, store), stack, targets);
  const saved = parseSavedPlan(JSON.stringify(toSavedPlan(p, "/s.ts", "/root", targets)), "p");
  assert.deepEqual(saved.targets, targets);
  await assert.rejects(applyStack(stack, store, { saved }), /saved plan is stale/);
  await applyStack(stack, store, { saved, targets: saved.targets });
  assert.deepEqual(store.names("demo").sort(), ["base", "mid"]);
  const untargeted = parseSavedPlan(JSON.stringify(toSavedPlan(p, "/s.ts", "/root")), "p");
  assert.equal(untargeted.targets, undefined);
});
