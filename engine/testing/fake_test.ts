import assert from "node:assert/strict";
import { fakeStore } from "./fake.ts";
import { Journal } from "../apply.ts";
import { hashJson } from "../hash.ts";
import type { DriverContext, ResourceRef } from "../types.ts";
import { FakeThing } from "../../tests/helpers/fake_resource.ts";

const ctx: DriverContext = {
  stackName: "demo",
  stackDir: "/fake/sockform/demo",
  toolVersion: "test",
  reporter: { progress() {}, warn() {} },
};
const ref = (name: string): ResourceRef => ({
  kind: "FakeThing",
  name,
  dir: `${ctx.stackDir}/${name}`,
});
const quiet = { progress() {}, warn() {} };

Deno.test("fake lock: a second lock() waits until the first is released", async () => {
  const store = fakeStore();
  const releaseFirst = await store.lock(ctx.stackDir);
  let secondHeld = false;
  const second = store.lock(ctx.stackDir).then((release) => {
    secondHeld = true;
    return release;
  });
  for (let i = 0; i < 10; i++) await Promise.resolve();
  assert.equal(secondHeld, false, "second lock must wait");
  releaseFirst();
  const releaseSecond = await second;
  assert.equal(secondHeld, true);
  assert.equal(store.lockWaits, 1);
  releaseSecond();
  releaseSecond(); // releasing twice is harmless
  const third = await store.lock(ctx.stackDir);
  third();
  assert.deepEqual(store.log.filter((l) => l.startsWith("lock") || l.startsWith("unlock")), [
    `lock ${ctx.stackDir}`,
    `unlock ${ctx.stackDir}`,
    `lock ${ctx.stackDir}`,
    `unlock ${ctx.stackDir}`,
    `lock ${ctx.stackDir}`,
    `unlock ${ctx.stackDir}`,
  ]);
});

Deno.test("fake lock: different stacks do not block each other", async () => {
  const store = fakeStore();
  const a = await store.lock("/fake/sockform/a");
  const b = await store.lock("/fake/sockform/b");
  assert.equal(store.lockWaits, 0);
  a();
  b();
});

Deno.test("fake driver: create writes state and metadata; rollback removes it", async () => {
  const store = fakeStore();
  const driver = store.driver("FakeThing");
  const desired = await driver.resolve(ctx, new FakeThing("a", { size: 3 }));
  assert.deepEqual(desired, { size: 3 });
  const tx = new Journal();
  await driver.create({ ctx, ref: ref("a"), desired, tx });
  const made = store.read("demo", "a")!;
  assert.deepEqual(made.state, { size: 3 });
  assert.equal(made.meta?.kind, "FakeThing");
  assert.equal(made.meta?.specHash, hashJson({ size: 3 }));
  assert.deepEqual(store.list(ctx.stackDir).map((r) => r.name), ["a"]);
  const { done, failed } = await tx.rollback();
  assert.deepEqual([done.length, failed], [1, []]);
  assert.deepEqual(store.snapshot(), { dirs: {}, live: [] });
});

Deno.test("fake driver: update rollback restores the previous state and metadata", async () => {
  const store = fakeStore();
  const driver = store.driver("FakeThing");
  await driver.create({ ctx, ref: ref("a"), desired: { size: 1 }, tx: new Journal() });
  const before = store.snapshot();
  const observed = (await driver.observe(ctx, ref("a")))!;
  const tx = new Journal();
  await driver.update({ ctx, ref: ref("a"), observed, desired: { size: 2 }, changes: [], tx });
  assert.deepEqual(store.read("demo", "a")?.state, { size: 2 });
  assert.equal(store.read("demo", "a")?.meta?.specHash, hashJson({ size: 2 }));
  await tx.rollback();
  assert.deepEqual(store.snapshot(), before);
});

Deno.test("fake driver: delete unpins now and frees the object only on commit", async () => {
  const store = fakeStore();
  const driver = store.driver("FakeThing");
  await driver.create({ ctx, ref: ref("a"), desired: { size: 1 }, tx: new Journal() });
  const before = store.snapshot();
  const observed = (await driver.observe(ctx, ref("a")))!;

  const undone = new Journal();
  await driver.delete({ ctx, ref: ref("a"), observed, tx: undone });
  assert.equal(store.read("demo", "a"), undefined);
  assert.deepEqual(store.snapshot().live, before.live, "object still held until commit");
  await undone.rollback();
  assert.deepEqual(store.snapshot(), before);

  const committed = new Journal();
  await driver.delete({ ctx, ref: ref("a"), observed, tx: committed });
  await committed.commit(quiet);
  assert.deepEqual(store.snapshot(), { dirs: {}, live: [] });
});

Deno.test("fake driver: observe returns copies, null when absent", async () => {
  const store = fakeStore();
  const driver = store.driver("FakeThing");
  assert.equal(await driver.observe(ctx, ref("a")), null);
  await driver.create({ ctx, ref: ref("a"), desired: { size: 1 }, tx: new Journal() });
  const seen = (await driver.observe(ctx, ref("a")))!;
  (seen.state as { size: number }).size = 99;
  assert.deepEqual(store.read("demo", "a")?.state, { size: 1 });
});

Deno.test("fake faults: each point fires once, at the right moment", async () => {
  const store = fakeStore();
  const driver = store.driver("FakeThing");
  store.failOn("create", "a", { message: "boom" });
  await assert.rejects(
    driver.create({ ctx, ref: ref("a"), desired: { size: 1 }, tx: new Journal() }),
    /^Error: boom$/,
  );
  assert.equal(store.read("demo", "a"), undefined, "start: nothing changed");

  store.failOn("create", "a", { at: "midway" });
  const tx = new Journal();
  await assert.rejects(
    driver.create({ ctx, ref: ref("a"), desired: { size: 1 }, tx }),
    /injected create failure/,
  );
  assert.equal(store.read("demo", "a")?.meta, null, "midway: pins without metadata");
  assert.equal(tx.undos.length, 1, "midway: the undo is already registered");
  await tx.rollback();

  await driver.create({ ctx, ref: ref("a"), desired: { size: 1 }, tx: new Journal() });
  assert.ok(store.read("demo", "a")?.meta, "the fault fired only once");
});

Deno.test("fake faults: undo and commit can fail too; clearFaults removes pending ones", async () => {
  const store = fakeStore();
  const driver = store.driver("FakeThing");
  const tx = new Journal();
  await driver.create({ ctx, ref: ref("a"), desired: { size: 1 }, tx });
  store.failOn("undo", "a", { message: "stuck" });
  const { failed } = await tx.rollback();
  assert.equal(failed.length, 1);
  assert.match(failed[0], /undo create FakeThing\.a \(stuck\)/);

  store.failOn("resolve", "a");
  store.clearFaults();
  assert.deepEqual(await driver.resolve(ctx, new FakeThing("a", { size: 1 })), { size: 1 });
});

Deno.test("fake tamper helpers: orphan, partial, edited state, dropped metadata", async () => {
  const store = fakeStore();
  store.addOrphan("demo", "old", "FakeThing", { size: 5 });
  store.addPartial("demo", "half");
  const listed = store.list(ctx.stackDir);
  assert.deepEqual(listed.map((r) => [r.name, r.meta?.kind ?? null]), [
    ["half", null],
    ["old", "FakeThing"],
  ]);
  assert.equal(listed[1].meta?.specHash, hashJson({ size: 5 }));
  store.editState("demo", "old", () => ({ size: 6 }));
  assert.deepEqual(store.read("demo", "old")?.state, { size: 6 });
  assert.equal(store.read("demo", "old")?.meta?.specHash, hashJson({ size: 5 }), "meta untouched");
  store.dropMeta("demo", "old");
  assert.equal(store.list(ctx.stackDir)[1].meta, null);
  assert.deepEqual(store.names("demo"), ["half", "old"]);
  assert.deepEqual(store.names("other"), []);
  await store.removeUnknown(`${ctx.stackDir}/half`);
  assert.deepEqual(store.names("demo"), ["old"]);
  assert.equal(store.snapshot().live.length, 1, "the partial's object is freed");
  assert.throws(() => store.editState("demo", "nope", (s) => s), /no resource demo\/nope/);
});

Deno.test("fake store: unknown kinds have no driver; extra kinds can be enabled", () => {
  assert.throws(() => fakeStore().driver("Nope"), /no driver for resource kind "Nope"/);
  const store = fakeStore({ kinds: ["FakeThing", "OtherThing"], root: "/x" });
  assert.equal(store.driver("OtherThing").kind, "OtherThing");
  assert.equal(store.openStack("s"), "/x/s");
});

Deno.test("fake crash: later changes are lost, reboot keeps only what is pinned", async () => {
  const store = fakeStore();
  const driver = store.driver("FakeThing");
  await driver.create({ ctx, ref: ref("a"), desired: { size: 1 }, tx: new Journal() });
  const tx = new Journal();
  await driver.delete({ ctx, ref: ref("a"), observed: (await driver.observe(ctx, ref("a")))!, tx });
  store.failOn("create", "b", { at: "midway", crash: true });
  await assert.rejects(driver.create({ ctx, ref: ref("b"), desired: { size: 2 }, tx }));
  assert.equal(store.crashed, true);
  const { failed } = await tx.rollback();
  assert.equal(failed.length, 2, "a dead process runs no undo");
  const after = store.reboot();
  assert.equal(after.crashed, false);
  assert.deepEqual(after.names("demo"), ["b"]);
  assert.equal(after.read("demo", "b")?.meta, null, "b was cut off before its metadata");
  assert.deepEqual(after.snapshot().live, [after.read("demo", "b")!.object], "a's object died");
});
