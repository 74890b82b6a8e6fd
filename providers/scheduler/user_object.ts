/**
 * A user's BPF scheduler object (`scheduler: { object, map?, name? }`): its
 * struct_ops map and the name it registers under, read from the ELF (the
 * struct_ops variables, and `mptcp_sched_ops.name` at its offset in the
 * object's own BTF) as CongestionControl reads its objects, so `map` and
 * `name` may be left out. Every refusal is a `PlanError` naming the field
 * it is about: `scheduler.object`, `scheduler.map` or `scheduler.name`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { elfSection, type StructOpsVariable, structOpsVariables } from "../../bpf/elf_symbols.ts";
import { btfMemberOffset } from "../system/btf.ts";
import { PlanError } from "../../engine/errors.ts";
import type { SchedulerObjectSpec } from "../../resources/scheduler/spec.ts";

const NAME_BYTES = 16;

/** What a user object resolves to. */
export interface UserSchedulerObject {
  /** The struct_ops map to register. */
  map: string;
  /** The name the kernel will list it under. */
  kernelName: string;
  /** sha256 of the object bytes. */
  objectHash: string;
}

/**
 * The struct_ops variable `map` names, or the object's only one. Pure.
 *
 * @example
 * ```ts
 * pickOpsMap("s", [{ name: "rr", data: new Uint8Array() }], undefined).name; // "rr"
 * ```
 */
export function pickOpsMap(
  resource: string,
  vars: readonly StructOpsVariable[],
  map: string | undefined,
): StructOpsVariable {
  const names = vars.map((v) => v.name).join(", ");
  if (map !== undefined) {
    const found = vars.find((v) => v.name === map);
    if (found) return found;
    const has = vars.length ? `its struct_ops maps: ${names}` : "it has none";
    throw new PlanError(
      resource,
      "scheduler.map",
      `the object has no struct_ops map ${map} (${has})`,
    );
  }
  if (vars.length === 1) return vars[0];
  if (vars.length === 0) {
    throw new PlanError(
      resource,
      "scheduler.object",
      'the object holds no struct_ops map (a BPF scheduler is a SEC(".struct_ops") mptcp_sched_ops variable)',
    );
  }
  throw new PlanError(
    resource,
    "scheduler.map",
    `the object holds ${vars.length} struct_ops maps (${names}): name the scheduler's with scheduler.map`,
  );
}

/** `mptcp_sched_ops.name` in a struct_ops variable, or undefined when the object's BTF does not say. */
function opsName(bytes: Uint8Array, v: StructOpsVariable): string | undefined {
  const btf = elfSection(bytes, ".BTF");
  const at = btf ? btfMemberOffset(btf, "mptcp_sched_ops", "name") : null;
  if (at === null || at + NAME_BYTES > v.data.length) return undefined;
  const raw = v.data.subarray(at, at + NAME_BYTES);
  const end = raw.indexOf(0);
  return new TextDecoder().decode(raw.subarray(0, end < 0 ? NAME_BYTES : end)) || undefined;
}

/** The declared name checked against the object's, or the object's. */
function kernelNameOf(resource: string, declared: string | undefined, found: string | undefined) {
  if (declared !== undefined && found !== undefined && declared !== found) {
    throw new PlanError(
      resource,
      "scheduler.name",
      `the object's mptcp_sched_ops registers as ${found}, not ${declared}`,
    );
  }
  const name = declared ?? found;
  if (name === undefined) {
    throw new PlanError(
      resource,
      "scheduler.name",
      "the object's BTF has no struct mptcp_sched_ops with a name: give scheduler.name",
    );
  }
  return name;
}

/**
 * Reads a user's scheduler object and resolves its map and kernel name.
 *
 * @example
 * ```ts
 * // needs the file: type-checked by deno test --doc, not run
 * function mine() {
 *   return userSchedulerObject("uplinks", { object: "/etc/sockform/my_sched.bpf.o" });
 * }
 * ```
 */
export function userSchedulerObject(
  resource: string,
  spec: SchedulerObjectSpec,
): UserSchedulerObject {
  let bytes: Uint8Array;
  let vars: StructOpsVariable[];
  try {
    bytes = Deno.readFileSync(spec.object);
    vars = structOpsVariables(bytes);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new PlanError(resource, "scheduler.object", `cannot read ${spec.object}: ${why}`);
  }
  const v = pickOpsMap(resource, vars, spec.map);
  return {
    map: v.name,
    kernelName: kernelNameOf(resource, spec.name, opsName(bytes, v)),
    objectHash: createHash("sha256").update(bytes).digest("hex"),
  };
}
