import assert from "node:assert/strict";
import { applyStack, destroyStack, showStack } from "./session.ts";
import { plan } from "./plan.ts";
import { Stack } from "./stack.ts";
import type { Reporter } from "./types.ts";
import { fakeStore } from "./testing/fake.ts";
import { FakeThing } from "../tests/helpers/fake_resource.ts";

const DIR = "/fake/sockform/demo";
const stack = new Stack("demo", [new FakeThing("a", { size: 1 }), new FakeThing("b", { size: 2 })]);

function recorder(): Reporter & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, progress() {}, warn: (m) => void warnings.push(m) };
}

Deno.test("corrupt: unknown metadata is reported by path and blocks nothing", async (t) => {
  const store = fakeStore();
  await applyStack(stack, store);
  store.addOrphan("demo", "bogus", "Bogus", { size: 1 });

  await t.step("plan names the directory and leaves it alone", async () => {
    const reporter = recorder();
    const p = await plan(stack, store, { reporter });
    assert.deepEqual(p.steps.map((s) => s.action), ["no-op", "no-op"]);
    assert.equal(p.corrupt?.length, 1);
    assert.equal(p.corrupt![0].dir, `${DIR}/bogus`);
    assert.match(reporter.warnings.join("\n"), /\/fake\/sockform\/demo\/bogus .*"Bogus"/);
    assert.match(reporter.warnings.join("\n"), /--remove-corrupt/);
  });

  await t.step("show lists it as corrupt", async () => {
    const shown = await showStack(stack, store);
    const bogus = shown.find((r) => r.address === "Bogus.bogus");
    assert.match(bogus?.corrupt ?? "", /demo\/bogus is a corrupt or foreign resource/);
  });

  await t.step("destroy removes what the stack owns and leaves the corrupt one", async () => {
    const outcome = await destroyStack(stack, store);
    assert.equal(outcome.applied, 2);
    assert.deepEqual(store.names("demo"), ["bogus"]);
  });

  await t.step("destroy with removeCorrupt removes it too", async () => {
    const outcome = await destroyStack(stack, store, { removeCorrupt: true });
    assert.equal(outcome.applied, 1);
    assert.deepEqual(store.names("demo"), []);
    assert.ok(store.log.includes(`remove-unknown ${DIR}/bogus`));
  });
});

Deno.test("corrupt: a declared name holding unknown metadata is refused, then replaced on request", async () => {
  const store = fakeStore();
  store.addOrphan("demo", "a", "Bogus", { size: 9 });
  await assert.rejects(applyStack(stack, store), (e: Error) => {
    assert.equal(e.name, "PlanError");
    assert.match(e.message, /^a: \/fake\/sockform\/demo\/a is a corrupt .*--remove-corrupt/);
    return true;
  });
  assert.equal(store.read("demo", "a")?.meta?.kind, "Bogus", "nothing changed");
  const outcome = await applyStack(stack, store, { removeCorrupt: true });
  assert.deepEqual(outcome.plan.steps.map((s) => s.action), ["replace", "create"]);
  assert.equal(store.read("demo", "a")?.meta?.kind, "FakeThing");
  assert.equal((await plan(stack, store)).steps.every((s) => s.action === "no-op"), true);
});
