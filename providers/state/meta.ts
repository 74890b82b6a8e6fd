/**
 * The pinned metadata map every resource keeps in its directory: one array
 * entry holding the JSON of `ResourceMeta`. Written last on create, so a
 * directory without it is an unfinished create.
 *
 * @module
 */
import { BpfMap } from "../libbpf/map.ts";
import { BPF_MAP_TYPE_ARRAY } from "../libbpf/uapi.ts";
import { unpin } from "../libbpf/pins.ts";
import type { KindMeta, ResourceMeta, Transaction } from "../../engine/types.ts";
import { type UpgradeExtra, upgradeMeta } from "../../engine/meta.ts";

/** File name of the metadata pin inside a resource directory. */
export const META_PIN = "meta";
const VALUE_SIZE = 16384;
const KEY = new Uint8Array(4);

/**
 * Writes (or rewrites) the metadata pin of a resource directory.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function record(dir: string): void {
 *   writeMeta(dir, { kind: "SocketLookupRedirect", name: "web", specHash: "…", objectHash: "…", toolVersion: "0.1.0" });
 * }
 * ```
 */
export function writeMeta<Extra>(dir: string, meta: ResourceMeta<Extra>): void {
  const bytes = new TextEncoder().encode(JSON.stringify(meta));
  if (bytes.length >= VALUE_SIZE) throw new Error(`metadata for ${meta.name} too large`);
  const value = new Uint8Array(VALUE_SIZE);
  value.set(bytes);
  let map = BpfMap.openPinned(`${dir}/${META_PIN}`);
  const fresh = map === null;
  map ??= BpfMap.create(BPF_MAP_TYPE_ARRAY, "sf_meta", 4, VALUE_SIZE, 1);
  try {
    map.update(KEY, value);
    if (fresh) map.pin(`${dir}/${META_PIN}`);
  } finally {
    map.close();
  }
}

/** Reads the metadata pin; null when missing, foreign or unreadable. */
export function readMeta(dir: string): ResourceMeta | null {
  let map: BpfMap | null = null;
  try {
    map = BpfMap.openPinned(`${dir}/${META_PIN}`);
    if (!map || map.valueSize !== VALUE_SIZE) return null;
    const value = map.lookup(KEY);
    if (!value) return null;
    const end = value.indexOf(0);
    const parsed = JSON.parse(
      new TextDecoder().decode(value.subarray(0, end < 0 ? undefined : end)),
    );
    return typeof parsed?.kind === "string" ? parsed as ResourceMeta : null;
  } catch {
    return null;
  } finally {
    map?.close();
  }
}

/**
 * The one metadata write of an apply: registers the undo (the record that was
 * there, or none) before it writes, so a rollback from any later point finds
 * the metadata that matches the kernel. Every kind writes its record here.
 *
 * @example Last thing in a driver's create or update
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { DriverContext, ResourceRef, Transaction } from "../../engine/types.ts";
 * import { type MetaHashes, metaRecord } from "../../engine/meta.ts";
 *
 * function finish(tx: Transaction, ctx: DriverContext, ref: ResourceRef, hashes: MetaHashes, cgroup: string) {
 *   writeMetaStep(tx, ref.dir, metaRecord(ctx, ref, hashes, { cgroup }));
 * }
 * ```
 */
export function writeMetaStep<Extra>(
  tx: Transaction,
  dir: string,
  meta: ResourceMeta<Extra>,
): void {
  const previous = readMeta(dir);
  // The undo tolerates the write not having happened.
  tx.onRollback(`restore ${dir}/${META_PIN}`, () => {
    if (previous) writeMeta(dir, previous);
    else unpin(`${dir}/${META_PIN}`);
  });
  writeMeta(dir, meta);
}

/**
 * Reads the metadata pin in the current layout, the kind's `extra` through
 * its upgrade; null when missing, foreign or unreadable.
 *
 * @example In a driver's observe
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ResourceRef } from "../../engine/types.ts";
 * import { upgradeTcpTuningExtra } from "../../resources/tcp_tuning/diff.ts";
 *
 * function observeMeta(ref: ResourceRef) {
 *   return readKindMeta(ref.dir, upgradeTcpTuningExtra);
 * }
 * ```
 */
export function readKindMeta<Extra>(
  dir: string,
  upgrade: UpgradeExtra<Extra>,
): KindMeta<Extra> | null {
  const raw = readMeta(dir);
  return raw ? upgradeMeta(raw, upgrade) : null;
}
