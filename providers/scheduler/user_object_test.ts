// A user's BPF scheduler object: map and name may be left out (read from
// the ELF and its BTF); every refusal names its field.
import assert from "node:assert/strict";
import { pickOpsMap, userSchedulerObject } from "./user_object.ts";
import * as roundRobin from "../../bpf/gen/round_robin.ts";
import * as skLookup from "../../bpf/gen/sk_lookup.ts";
import { PlanError } from "../../engine/errors.ts";

const refused = (field: string, message: RegExp) => (e: unknown) =>
  e instanceof PlanError && e.message.startsWith(`s.${field}: `) && message.test(e.message);

Deno.test("pickOpsMap(): the named map or the only one; none or several is refused naming the field", () => {
  const v = (name: string) => ({ name, data: new Uint8Array() });
  assert.equal(pickOpsMap("s", [v("rr")], undefined).name, "rr");
  assert.equal(pickOpsMap("s", [v("rr"), v("backup_first")], "backup_first").name, "backup_first");
  assert.throws(
    () => pickOpsMap("s", [v("rr"), v("backup_first")], undefined),
    refused("scheduler.map", /holds 2 struct_ops maps \(rr, backup_first\)/),
  );
  assert.throws(() => pickOpsMap("s", [], undefined), refused("scheduler.object", /no struct_ops/));
  assert.throws(
    () => pickOpsMap("s", [v("rr")], "other"),
    refused("scheduler.map", /no struct_ops map other \(its struct_ops maps: rr\)/),
  );
});

Deno.test("userSchedulerObject(): reads map and name from the object; refusals name scheduler.object / .map / .name", () => {
  const file = Deno.makeTempFileSync({ suffix: ".bpf.o" });
  try {
    Deno.writeFileSync(file, roundRobin.object);
    assert.deepEqual(userSchedulerObject("s", { object: file }), {
      map: "round_robin",
      kernelName: "sf_round_robin",
      objectHash: roundRobin.objectHash,
    });
    const given = { object: file, map: "round_robin", name: "sf_round_robin" };
    assert.equal(userSchedulerObject("s", given).kernelName, "sf_round_robin");
    assert.throws(
      () => userSchedulerObject("s", { object: file, name: "mine" }),
      refused("scheduler.name", /registers as sf_round_robin, not mine/),
    );
    assert.throws(
      () => userSchedulerObject("s", { object: file, map: "rr" }),
      refused("scheduler.map", /no struct_ops map rr/),
    );
    Deno.writeFileSync(file, skLookup.object);
    assert.throws(
      () => userSchedulerObject("s", { object: file }),
      refused("scheduler.object", /holds no struct_ops map/),
    );
    Deno.writeFileSync(file, new TextEncoder().encode("not an ELF"));
    assert.throws(
      () => userSchedulerObject("s", { object: file }),
      refused("scheduler.object", /cannot read/),
    );
  } finally {
    Deno.removeSync(file);
  }
  assert.throws(
    () => userSchedulerObject("s", { object: "/nonexistent/x.bpf.o" }),
    refused("scheduler.object", /cannot read \/nonexistent\/x\.bpf\.o/),
  );
});
