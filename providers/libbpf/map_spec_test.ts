import assert from "node:assert/strict";
import { mapIncompatibility, type MapSpec, mapSpecDiff } from "./map_spec.ts";
import { BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH } from "./uapi.ts";

const ruleset: MapSpec = {
  type: BPF_MAP_TYPE_HASH,
  keySize: 4,
  valueSize: 1024,
  maxEntries: 1,
  flags: 1,
};

Deno.test("mapSpecDiff() is empty for an identical map", () => {
  assert.deepEqual(mapSpecDiff(ruleset, { ...ruleset }), []);
  assert.equal(mapIncompatibility(ruleset, { ...ruleset }), null);
});

Deno.test("mapSpecDiff() names each differing field, want then found", async (t) => {
  const cases: [string, Partial<MapSpec>, string][] = [
    ["type", { type: BPF_MAP_TYPE_ARRAY }, "Type: HASH changed to ARRAY"],
    ["key size", { keySize: 8 }, "KeySize: 4 changed to 8"],
    ["value size", { valueSize: 16 }, "ValueSize: 1024 changed to 16"],
    ["max entries", { maxEntries: 64 }, "MaxEntries: 1 changed to 64"],
    ["flags", { flags: 0 }, "Flags: 0x1 changed to 0x0"],
    ["unknown type", { type: 99 }, "Type: HASH changed to type 99"],
  ];
  for (const [name, change, line] of cases) {
    await t.step(
      name,
      () => assert.deepEqual(mapSpecDiff(ruleset, { ...ruleset, ...change }), [line]),
    );
  }
});

Deno.test("mapIncompatibility() joins every differing field in one line", () => {
  const found = { ...ruleset, keySize: 8, maxEntries: 2, flags: 0 };
  assert.equal(
    mapIncompatibility(ruleset, found),
    "KeySize: 4 changed to 8, MaxEntries: 1 changed to 2, Flags: 0x1 changed to 0x0",
  );
});
