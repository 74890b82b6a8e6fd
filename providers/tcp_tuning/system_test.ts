import assert from "node:assert/strict";
import { releaseAtLeast } from "./system.ts";

Deno.test("releaseAtLeast() compares major.minor of a uname release", () => {
  assert.equal(releaseAtLeast("6.18.44-fc-v595", 5, 19), true);
  assert.equal(releaseAtLeast("5.19.0", 5, 19), true);
  assert.equal(releaseAtLeast("5.15.0-91-generic", 5, 19), false);
  assert.equal(releaseAtLeast("4.20.1", 5, 19), false);
  assert.equal(releaseAtLeast("garbage", 5, 19), false);
});
