/**
 * The object a CongestionControl registers: the shipped build or a user's
 * `.bpf.o`, with the name its `tcp_congestion_ops` registers under, read from
 * the ELF (struct_ops variable bytes at the offset of `name` in the object's
 * own BTF), so a plan knows it without loading anything.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { CongestionControlSpec } from "../../resources/congestion_control.ts";
import { elfSection, structOpsVariables } from "../../bpf/elf_symbols.ts";
import { btfMemberOffset } from "../system/btf.ts";
import { PlanError } from "../../engine/errors.ts";
import * as sfReno from "../../bpf/gen/sf_reno.ts";

/** A congestion control's object, ready to load. */
export interface CongestionObject {
  bytes: Uint8Array;
  /** `sfReno` or the object's absolute path. */
  source: string;
  objectHash: string;
  /** The struct_ops map (the C variable's name). */
  mapName: string;
  /** The name it registers under. */
  ccName: string;
}

const NAME_BYTES = 16;

/** The registered name inside an object; throws a plain Error saying what is missing. */
function registeredName(bytes: Uint8Array): { mapName: string; ccName: string } {
  const vars = structOpsVariables(bytes);
  if (vars.length !== 1) {
    throw new Error(`it holds ${vars.length} struct_ops maps, a congestion control has one`);
  }
  const btf = elfSection(bytes, ".BTF");
  const at = btf && btfMemberOffset(btf, "tcp_congestion_ops", "name");
  if (at === null || at === undefined || at + NAME_BYTES > vars[0].data.length) {
    throw new Error("its BTF has no struct tcp_congestion_ops with a name");
  }
  const raw = vars[0].data.subarray(at, at + NAME_BYTES);
  const end = raw.indexOf(0);
  const ccName = new TextDecoder().decode(raw.subarray(0, end < 0 ? NAME_BYTES : end));
  if (!/^[a-z0-9_]{1,15}$/.test(ccName)) {
    throw new Error(`its tcp_congestion_ops name "${ccName}" is not 1-15 of a-z 0-9 _`);
  }
  return { mapName: vars[0].name, ccName };
}

/**
 * Reads the object a spec declares. Throws `PlanError` (field `program`) when
 * the file cannot be read or is not a one-struct_ops congestion control.
 *
 * @example The shipped Reno
 * ```ts
 * congestionObject("reno", { program: "sfReno" }).ccName; // "sf_reno"
 * ```
 */
export function congestionObject(resource: string, spec: CongestionControlSpec): CongestionObject {
  const program = spec.program;
  if (program === "sfReno") {
    const { mapName, ccName } = registeredName(sfReno.object);
    return {
      bytes: sfReno.object,
      source: program,
      objectHash: sfReno.objectHash,
      mapName,
      ccName,
    };
  }
  const path = program.object;
  try {
    const bytes = Deno.readFileSync(path);
    const objectHash = createHash("sha256").update(bytes).digest("hex");
    return { bytes, source: path, objectHash, ...registeredName(bytes) };
  } catch (e) {
    throw new PlanError(
      resource,
      "program.object",
      `${path}: ${e instanceof Error ? e.message : e}`,
    );
  }
}
