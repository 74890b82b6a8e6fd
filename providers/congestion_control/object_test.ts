import assert from "node:assert/strict";
import { congestionObject } from "./object.ts";
import * as sfReno from "../../bpf/gen/sf_reno.ts";
import * as roundRobin from "../../bpf/gen/round_robin.ts";
import { PlanError } from "../../engine/errors.ts";

Deno.test("congestionObject() reads the registered name from the object's struct_ops", () => {
  const obj = congestionObject("reno", { program: "sfReno" });
  assert.deepEqual([obj.ccName, obj.mapName, obj.objectHash], [
    "sf_reno",
    "sf_reno",
    sfReno.objectHash,
  ]);
});

Deno.test("congestionObject() refuses a missing file and an object that is not a congestion control", () => {
  assert.throws(
    () => congestionObject("mine", { program: { object: "/nonexistent/cc.bpf.o" } }),
    (e: Error) =>
      e instanceof PlanError && e.message.startsWith("mine.program.object: /nonexistent/cc.bpf.o"),
  );
  const file = Deno.makeTempFileSync({ suffix: ".bpf.o" });
  try {
    Deno.writeFileSync(file, roundRobin.object); // an MPTCP scheduler: no tcp_congestion_ops
    assert.throws(
      () => congestionObject("mine", { program: { object: file } }),
      (e: Error) => e instanceof PlanError && e.message.includes("no struct tcp_congestion_ops"),
    );
    Deno.writeFileSync(file, sfReno.object);
    const copy = congestionObject("mine", { program: { object: file } });
    assert.deepEqual([copy.ccName, copy.objectHash, copy.source], [
      "sf_reno",
      sfReno.objectHash,
      file,
    ]);
  } finally {
    Deno.removeSync(file);
  }
});
