/**
 * A minimal reader of raw BTF (the format of /sys/kernel/btf/vmlinux): just
 * enough to ask whether the kernel describes a function, which is what a
 * BPF trampoline (fentry/fexit/fmod_ret) needs to attach to it. No bpftool.
 *
 * @module
 */

const BTF_MAGIC = 0xeb9f;
const HEADER_MIN = 24;
const KIND_STRUCT = 4;
const KIND_FUNC = 12;

/** Bytes each BTF kind adds after the 12-byte `struct btf_type`, given `vlen`. */
function extraBytes(kind: number, vlen: number): number {
  switch (kind) {
    case 1: // INT
    case 14: // VAR
    case 17: // DECL_TAG
      return 4;
    case 3: // ARRAY
      return 12;
    case 4: // STRUCT
    case 5: // UNION
    case 15: // DATASEC
    case 19: // ENUM64
      return 12 * vlen;
    case 6: // ENUM
    case 13: // FUNC_PROTO
      return 8 * vlen;
    case 2: // PTR
    case 7: // FWD
    case 8: // TYPEDEF
    case 9: // VOLATILE
    case 10: // CONST
    case 11: // RESTRICT
    case 12: // FUNC
    case 16: // FLOAT
    case 18: // TYPE_TAG
      return 0;
    default:
      throw new Error(`BTF: unknown type kind ${kind}`);
  }
}

function cString(bytes: Uint8Array, at: number): string {
  const end = bytes.indexOf(0, at);
  return new TextDecoder().decode(bytes.subarray(at, end < 0 ? undefined : end));
}

/** Calls `visit(name, typeId)` for every FUNC type of a raw BTF blob. */
function eachFunction(blob: Uint8Array, visit: (name: string, id: number) => void): void {
  eachOfKind(blob, KIND_FUNC, visit);
}

/** Calls `visit(name, typeId)` for every type of kind `wanted` in a raw BTF blob. */
function eachOfKind(
  blob: Uint8Array,
  wanted: number,
  visit: (name: string, id: number, at: number) => void,
): void {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (blob.byteLength < HEADER_MIN || view.getUint16(0, true) !== BTF_MAGIC) {
    throw new Error("not a little-endian BTF blob (bad magic)");
  }
  const hdrLen = view.getUint32(4, true);
  const typeStart = hdrLen + view.getUint32(8, true);
  const typeEnd = typeStart + view.getUint32(12, true);
  const strStart = hdrLen + view.getUint32(16, true);
  const strings = blob.subarray(strStart, strStart + view.getUint32(20, true));
  if (typeEnd > blob.byteLength || strStart + strings.byteLength > blob.byteLength) {
    throw new Error("truncated BTF blob");
  }
  // Type ids count from 1 (0 is void), in the order types appear.
  for (let at = typeStart, id = 1; at + 12 <= typeEnd; id++) {
    const nameOff = view.getUint32(at, true);
    const info = view.getUint32(at + 4, true);
    const kind = (info >>> 24) & 0x1f;
    if (kind === wanted) visit(cString(strings, nameOff), id, at);
    at += 12 + extraBytes(kind, info & 0xffff);
  }
}

/**
 * The names of every FUNC type in a raw BTF blob (little-endian, as the
 * kernel exports it). Throws on a blob that is not BTF.
 *
 * @example Does the running kernel describe `update_socket_protocol`?
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function hasHook(): boolean {
 *   const names = btfFunctionNames(Deno.readFileSync("/sys/kernel/btf/vmlinux"));
 *   return names.has("update_socket_protocol");
 * }
 * ```
 */
export function btfFunctionNames(blob: Uint8Array): Set<string> {
  const names = new Set<string>();
  eachFunction(blob, (name) => names.add(name));
  return names;
}

/**
 * The BTF type ids of the FUNC types named `name` (what a tracing link
 * reports as its target_btf_id). Throws on a blob that is not BTF.
 *
 * @example The id a fmod_ret link on update_socket_protocol targets
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function hookId(): number | undefined {
 *   const [id] = btfFunctionIds(Deno.readFileSync("/sys/kernel/btf/vmlinux"), "update_socket_protocol");
 *   return id;
 * }
 * ```
 */
export function btfFunctionIds(blob: Uint8Array, name: string): number[] {
  const ids: number[] = [];
  eachFunction(blob, (n, id) => n === name && ids.push(id));
  return ids;
}

/**
 * The names of every STRUCT type in a raw BTF blob (e.g. the
 * `bpf_struct_ops_<name>` wrappers a struct_ops needs). Throws on a blob that is not BTF.
 *
 * @example Does the kernel offer BPF MPTCP schedulers?
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function hasBpfSchedulers(): boolean {
 *   const structs = btfStructNames(Deno.readFileSync("/sys/kernel/btf/vmlinux"));
 *   return structs.has("bpf_struct_ops_mptcp_sched_ops");
 * }
 * ```
 */
export function btfStructNames(blob: Uint8Array): Set<string> {
  const names = new Set<string>();
  eachOfKind(blob, KIND_STRUCT, (name) => names.add(name));
  return names;
}

/**
 * The byte offset of member `member` in the first STRUCT named `struct` of a
 * raw BTF blob; null when there is no such struct or member (or the member is
 * a bitfield not on a byte boundary).
 *
 * @example Where an object's tcp_congestion_ops keeps its name
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function nameOffset(objectBtf: Uint8Array): number | null {
 *   return btfMemberOffset(objectBtf, "tcp_congestion_ops", "name"); // e.g. 24
 * }
 * ```
 */
export function btfMemberOffset(blob: Uint8Array, struct: string, member: string): number | null {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const strings = blob.subarray(view.getUint32(4, true) + view.getUint32(16, true));
  let found: number | null = null;
  let seen = false;
  eachOfKind(blob, KIND_STRUCT, (name, _id, at) => {
    if (seen || name !== struct) return;
    seen = true;
    const info = view.getUint32(at + 4, true);
    const kflag = info >>> 31;
    for (let i = 0, m = at + 12; i < (info & 0xffff); i++, m += 12) {
      if (cString(strings, view.getUint32(m, true)) !== member) continue;
      // With kflag set the low 24 bits are the bit offset, the high 8 the bitfield size.
      const bits = kflag ? view.getUint32(m + 8, true) & 0xffffff : view.getUint32(m + 8, true);
      found = bits % 8 === 0 ? bits / 8 : null;
    }
  });
  return found;
}

/** Where the running kernel exports its own BTF. */
export const VMLINUX_BTF = "/sys/kernel/btf/vmlinux";

/**
 * True when the running kernel's BTF describes function `name` (false when the
 * kernel exports no BTF at all).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function report(): void {
 *   if (!kernelHasBtfFunction("update_socket_protocol")) console.log("no MPTCP hook here");
 * }
 * ```
 */
export function kernelHasBtfFunction(name: string, path = VMLINUX_BTF): boolean {
  let blob: Uint8Array;
  try {
    blob = Deno.readFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
  return btfFunctionNames(blob).has(name);
}
