import assert from "node:assert/strict";
import { parseDuration } from "./duration.ts";

Deno.test("duration: Terraform's -lock-timeout syntax, to milliseconds", () => {
  assert.equal(parseDuration("0s"), 0);
  assert.equal(parseDuration("0"), 0);
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("10s"), 10_000);
  assert.equal(parseDuration("1m30s"), 90_000);
  assert.equal(parseDuration("1.5h"), 5_400_000);
  for (const bad of ["", "10", "s", "1x", "1m 30s", "-1s", "1s2"]) {
    assert.throws(() => parseDuration(bad), /invalid duration/, bad);
  }
});
