/**
 * A BPF object opened from embedded bytes (bpf/gen/*.ts), loaded with the
 * verifier log captured so a refused program explains itself.
 *
 * @module
 */
import { libbpf, unwrap, unwrapPtr } from "./ffi.ts";
import { cstr } from "../libc/ffi.ts";
import { KernelCallError } from "../system/errno.ts";
import type { MapSpec } from "./map_spec.ts";

const LOG_SIZE = 1 << 20;
/** sizeof(struct bpf_object_open_opts) in libbpf 1.1+. */
const OPEN_OPTS_SIZE = 80;

/** A program inside a loaded object. */
export interface BpfProgram {
  readonly name: string;
  readonly ptr: Deno.PointerObject;
  /** Valid after `load()`; owned by the object. */
  readonly fd: number;
}

/**
 * An opened (and then loaded) BPF object. `close()` releases everything it
 * created that is not pinned or attached through a link.
 *
 * @example Loading the sk_lookup program
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import * as skLookup from "../../bpf/gen/sk_lookup.ts";
 *
 * function loadSkLookup(): void {
 *   const obj = BpfObject.open(skLookup.object, "sk_lookup");
 *   try { obj.load(); console.log(obj.program("dispatch").fd); } finally { obj.close(); }
 * }
 * ```
 */
export class BpfObject {
  #ptr: Deno.PointerObject | null;
  readonly #log: Uint8Array<ArrayBuffer>;
  readonly #keepAlive: unknown[];

  private constructor(ptr: Deno.PointerObject, log: Uint8Array<ArrayBuffer>, keep: unknown[]) {
    this.#ptr = ptr;
    this.#log = log;
    this.#keepAlive = keep;
  }

  /** Opens an ELF object from memory; nothing is in the kernel yet. */
  static open(bytes: Uint8Array, name: string): BpfObject {
    const log = new Uint8Array(LOG_SIZE);
    const objName = cstr(name);
    const opts = new Uint8Array(OPEN_OPTS_SIZE);
    const view = new DataView(opts.buffer);
    view.setBigUint64(0, BigInt(OPEN_OPTS_SIZE), true);
    view.setBigUint64(8, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(objName))), true);
    view.setBigUint64(56, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(log))), true);
    view.setBigUint64(64, BigInt(LOG_SIZE), true);
    const copy = new Uint8Array(bytes);
    const ptr = libbpf().bpf_object__open_mem(copy, BigInt(copy.length), opts);
    return new BpfObject(unwrapPtr(`bpf_object__open_mem(${name})`, ptr), log, [objName, copy]);
  }

  get #obj(): Deno.PointerObject {
    if (!this.#ptr) throw new KernelCallError("bpf_object", 9, "object already closed");
    return this.#ptr;
  }

  /** libbpf's `struct bpf_map *` for map `name` (owned by the object), for map-level calls. */
  mapPtr(name: string): Deno.PointerObject {
    return unwrapPtr(
      `bpf_object__find_map_by_name(${name})`,
      libbpf().bpf_object__find_map_by_name(this.#obj, cstr(name)),
    );
  }

  /** Makes map `name` use an existing kernel map (e.g. a pinned one) instead of a new one. */
  reuseMap(name: string, fd: number): void {
    const map = unwrapPtr(
      `bpf_object__find_map_by_name(${name})`,
      libbpf().bpf_object__find_map_by_name(this.#obj, cstr(name)),
    );
    unwrap(`bpf_map__reuse_fd(${name})`, libbpf().bpf_map__reuse_fd(map, fd));
  }

  /** Loads every program and creates the maps; a refusal carries the verifier log. */
  load(): void {
    const rc = libbpf().bpf_object__load(this.#obj);
    if (rc < 0) {
      const end = this.#log.indexOf(0);
      const log = new TextDecoder().decode(this.#log.subarray(0, end < 0 ? undefined : end));
      const code = -rc;
      const err = new KernelCallError(
        "bpf_object__load",
        code,
        describeLoadFailure(code),
        log.trim(),
      );
      throw err;
    }
  }

  /** A program by its C function name. */
  program(name: string): BpfProgram {
    const ptr = unwrapPtr(
      `bpf_object__find_program_by_name(${name})`,
      libbpf().bpf_object__find_program_by_name(this.#obj, cstr(name)),
    );
    return { name, ptr, fd: libbpf().bpf_program__fd(ptr) };
  }

  /** The fd of map `name` (valid after load; owned by the object). */
  mapFd(name: string): number {
    return unwrap(`bpf_map__fd(${name})`, libbpf().bpf_map__fd(this.#map(name)));
  }

  /**
   * The map as the object declares it (type, sizes, max_entries, flags), as
   * libbpf parsed it from the ELF; no load needed.
   */
  mapSpec(name: string): MapSpec {
    const map = this.#map(name);
    const lib = libbpf();
    return {
      type: lib.bpf_map__type(map),
      keySize: lib.bpf_map__key_size(map),
      valueSize: lib.bpf_map__value_size(map),
      maxEntries: lib.bpf_map__max_entries(map),
      flags: lib.bpf_map__map_flags(map),
    };
  }

  #map(name: string): Deno.PointerObject {
    return unwrapPtr(
      `bpf_object__find_map_by_name(${name})`,
      libbpf().bpf_object__find_map_by_name(this.#obj, cstr(name)),
    );
  }

  /** Closes the object: unpinned, unattached programs and maps are freed. */
  close(): void {
    if (!this.#ptr) return;
    libbpf().bpf_object__close(this.#ptr);
    this.#ptr = null;
    this.#keepAlive.length = 0;
  }
}

function describeLoadFailure(code: number): string {
  if (code === 1) {
    return "the kernel refused to load the program (EPERM: a lockdown or LSM policy, or missing CAP_BPF)";
  }
  if (code === 13) return "the verifier rejected the program";
  if (code === 524 || code === 95) return "this kernel does not support this program type or hook";
  return "load failed";
}
