/**
 * A BPF map by fd: lookup, update, delete and iteration (batched where the
 * map type supports it).
 *
 * @module
 */
import { libbpf, unwrap } from "./ffi.ts";
import { check, cstr, libc } from "../libc/ffi.ts";
import { type MapInfo, mapInfo } from "./info.ts";
import { openPin, pinFd } from "./pins.ts";
import { BPF_ANY, BPF_EXIST, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH, BPF_NOEXIST } from "./uapi.ts";

/** Update flags (`BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`). */
export const UPDATE = { ANY: BPF_ANY, NOEXIST: BPF_NOEXIST, EXIST: BPF_EXIST } as const;

const ENOENT = 2;

/**
 * An open map. Close it when done; the kernel map lives on while pinned.
 *
 * @example Reading a pinned map
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function countBindings(): void {
 *   const map = BpfMap.openPinned("/sys/fs/bpf/sockform/demo/web/bindings");
 *   try { console.log(map?.entries().length); } finally { map?.close(); }
 * }
 * ```
 */
export class BpfMap {
  readonly keySize: number;
  readonly valueSize: number;
  readonly type: number;
  readonly id: number;
  #closed = false;

  constructor(readonly fd: number, readonly owned = true) {
    const info = mapInfo(fd);
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.type = info.type;
    this.id = info.id;
  }

  /** Creates a map without an object file (used for metadata maps). */
  static create(type: number, name: string, keySize: number, valueSize: number, max: number) {
    const fd = libbpf().bpf_map_create(type, cstr(name), keySize, valueSize, max, null);
    return new BpfMap(unwrap(`bpf_map_create(${name})`, fd));
  }

  /** Opens a pinned map; null when the pin does not exist. */
  static openPinned(path: string): BpfMap | null {
    const fd = openPin(path, "map");
    return fd === null ? null : new BpfMap(fd);
  }

  /** The value at `key`, or null when absent. */
  lookup(key: Uint8Array): Uint8Array | null {
    const value = new Uint8Array(this.valueSize);
    const rc = libbpf().bpf_map_lookup_elem(this.fd, key as Uint8Array<ArrayBuffer>, value);
    if (rc < 0 && -rc === ENOENT) return null;
    unwrap("bpf_map_lookup_elem", rc);
    return value;
  }

  /** Inserts or replaces `key`. */
  update(key: Uint8Array, value: Uint8Array, flags: bigint = UPDATE.ANY): void {
    const rc = libbpf().bpf_map_update_elem(
      this.fd,
      key as Uint8Array<ArrayBuffer>,
      value as Uint8Array<ArrayBuffer>,
      flags,
    );
    unwrap("bpf_map_update_elem", rc);
  }

  /** Deletes `key`; false when it was not there. */
  delete(key: Uint8Array): boolean {
    const rc = libbpf().bpf_map_delete_elem(this.fd, key as Uint8Array<ArrayBuffer>);
    if (rc < 0 && -rc === ENOENT) return false;
    unwrap("bpf_map_delete_elem", rc);
    return true;
  }

  /** All keys, by `bpf_map_get_next_key`. */
  keys(): Uint8Array[] {
    const keys: Uint8Array[] = [];
    let prev: Uint8Array<ArrayBuffer> | null = null;
    for (;;) {
      const next = new Uint8Array(this.keySize);
      const rc = libbpf().bpf_map_get_next_key(this.fd, prev, next);
      if (rc < 0 && -rc === ENOENT) return keys;
      unwrap("bpf_map_get_next_key", rc);
      keys.push(next);
      prev = next;
    }
  }

  /**
   * Visits every entry without allocating per entry: `key` and `value` are
   * reused buffers, valid only during the call. For large maps without batch
   * lookups (LPM tries), where per-entry arrays dominate the cost of a plan.
   */
  forEachEntry(visit: (key: Uint8Array, value: Uint8Array) => void): void {
    const keys = [new Uint8Array(this.keySize), new Uint8Array(this.keySize)];
    const value = new Uint8Array(this.valueSize);
    let prev: Uint8Array<ArrayBuffer> | null = null;
    for (let i = 0;; i ^= 1) {
      const next = keys[i];
      const rc = libbpf().bpf_map_get_next_key(this.fd, prev, next);
      if (rc < 0 && -rc === ENOENT) return;
      unwrap("bpf_map_get_next_key", rc);
      const found = libbpf().bpf_map_lookup_elem(this.fd, next, value);
      if (found === 0) visit(next, value);
      else if (-found !== ENOENT) unwrap("bpf_map_lookup_elem", found);
      prev = next;
    }
  }

  /** All entries; uses one batch call for hash and array maps. */
  entries(): [Uint8Array, Uint8Array][] {
    if (this.type === BPF_MAP_TYPE_HASH || this.type === BPF_MAP_TYPE_ARRAY) {
      const batched = this.#lookupBatch();
      if (batched) return batched;
    }
    const out: [Uint8Array, Uint8Array][] = [];
    for (const key of this.keys()) {
      const value = this.lookup(key);
      if (value) out.push([key, value]);
    }
    return out;
  }

  #lookupBatch(): [Uint8Array, Uint8Array][] | null {
    const max = mapInfo(this.fd).maxEntries;
    const keys = new Uint8Array(this.keySize * max);
    const values = new Uint8Array(this.valueSize * max);
    const count = new Uint32Array([max]);
    const token = new Uint8Array(Math.max(8, this.keySize));
    const opts = new BigUint64Array([24n, 0n, 0n]);
    const rc = libbpf().bpf_map_lookup_batch(
      this.fd,
      null,
      token,
      keys,
      values,
      count,
      new Uint8Array(opts.buffer),
    );
    if (rc < 0 && -rc !== ENOENT) return null; // kernel without batch ops: iterate instead
    const out: [Uint8Array, Uint8Array][] = [];
    for (let i = 0; i < count[0]; i++) {
      out.push([
        keys.slice(i * this.keySize, (i + 1) * this.keySize),
        values.slice(i * this.valueSize, (i + 1) * this.valueSize),
      ]);
    }
    return out;
  }

  /** Pins this map at `path` (mode 0600). */
  pin(path: string): void {
    pinFd(this.fd, path);
  }

  /** Closes our fd (idempotent). */
  close(): void {
    if (this.#closed || !this.owned) return;
    this.#closed = true;
    check("close(map)", libc().close(this.fd));
  }
}

/** bpf_prog_info offsets of nr_map_ids (u32) and map_ids (u64 pointer). */
const NR_MAP_IDS = 52;
const MAP_IDS = 56;

/**
 * The ids of the maps a loaded program uses (`bpf_prog_info.map_ids`).
 *
 * @example The maps behind a pinned program
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function mapsOf(progFd: number): number[] {
 *   return programMapIds(progFd);
 * }
 * ```
 */
export function programMapIds(progFd: number): number[] {
  const info = new Uint8Array(256);
  const len = new Uint32Array([info.length]);
  unwrap("bpf_obj_get_info_by_fd(prog)", libbpf().bpf_obj_get_info_by_fd(progFd, info, len));
  const count = new DataView(info.buffer).getUint32(NR_MAP_IDS, true);
  if (count === 0) return [];
  const ids = new Uint32Array(count);
  const ask = new Uint8Array(256);
  const view = new DataView(ask.buffer);
  view.setUint32(NR_MAP_IDS, count, true);
  view.setBigUint64(MAP_IDS, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(ids))), true);
  len[0] = ask.length;
  unwrap("bpf_obj_get_info_by_fd(prog)", libbpf().bpf_obj_get_info_by_fd(progFd, ask, len));
  return [...ids.subarray(0, Math.min(count, view.getUint32(NR_MAP_IDS, true)))];
}

/**
 * Map info by id (opens and closes the map).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function keySizeOf42(): void {
 *   const { keySize } = mapInfoById(42);
 * }
 * ```
 */
export function mapInfoById(id: number): MapInfo {
  const fd = unwrap(`bpf_map_get_fd_by_id(${id})`, libbpf().bpf_map_get_fd_by_id(id));
  try {
    return mapInfo(fd);
  } finally {
    libc().close(fd);
  }
}
