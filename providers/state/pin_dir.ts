/**
 * Helpers for a resource directory of pins on bpffs, shared by the BPF kind
 * drivers: open a pinned map for a step, read one briefly, and the deferred
 * delete that every BPF kind uses.
 *
 * @module
 */
import type { ResourceRef, Transaction } from "../../engine/types.ts";
import { BpfMap } from "../libbpf/map.ts";
import { openPin, pinFd, refuseSymlink, unpin } from "../libbpf/pins.ts";
import { Held } from "../bpf_kind/handles.ts";
import { foreignMapProblem } from "./pin_audit.ts";
import { awaitProgramsFreed, programIdOf, removePinsAndAwaitRelease } from "../libbpf/release.ts";

/** True when something (file, dir, pin) is at `path`; never follows a link. */
export function pathExists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `fn` with a pinned map open and closes it; null when the pin is missing
 * or holds a foreign map (not the one the resource's program uses).
 *
 * @example Counting a map's entries
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function bindingCount(dir: string): number {
 *   return withPinnedMap(dir, "bindings", (m) => m.keys().length) ?? 0;
 * }
 * ```
 */
export function withPinnedMap<T>(dir: string, name: string, fn: (m: BpfMap) => T): T | null {
  const map = BpfMap.openPinned(`${dir}/${name}`);
  if (!map) return null;
  try {
    // A foreign map (another shape than the program's) reads as missing; the
    // plan's pin audit reports it and forces a replace.
    if (foreignMapProblem(dir, name, map.fd)) return null;
    return fn(map);
  } finally {
    map.close();
  }
}

/**
 * Opens a pinned map for edits within one apply. It stays open until the
 * apply commits or finishes rolling back, because undo actions use it.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ResourceRef, Transaction } from "../../engine/types.ts";
 * import type { BpfMap } from "../libbpf/map.ts";
 *
 * function bindings(ref: ResourceRef, tx: Transaction): BpfMap {
 *   return openMapForApply(ref.dir, "bindings", tx);
 * }
 * ```
 */
export function openMapForApply(dir: string, name: string, tx: Transaction): BpfMap {
  const map = BpfMap.openPinned(`${dir}/${name}`);
  if (!map) throw new Error(`${dir}/${name} is missing: the resource must be replaced`);
  const foreign = foreignMapProblem(dir, name, map.fd);
  if (foreign) {
    map.close();
    throw new Error(`${foreign}: the resource must be replaced`);
  }
  tx.onRollback(`close ${name}`, () => map.close());
  tx.onCommit(`close ${name}`, () => map.close());
  return map;
}

/**
 * Starts a create: makes the resource directory (0700, never through a
 * symlink) and registers its undo. Everything a create pins lives inside,
 * so removing the directory undoes all of it; the undo waits until the
 * kernel has released the programs its links ran.
 *
 * @example First thing in a driver's create
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ResourceRef, Transaction } from "../../engine/types.ts";
 *
 * function create(ref: ResourceRef, tx: Transaction): void {
 *   beginPinDir(ref.dir, tx);
 * }
 * ```
 */
export function beginPinDir(dir: string, tx: Transaction): void {
  refuseSymlink(dir);
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  tx.onRollback(`remove ${dir}`, () => removePinsAndAwaitRelease(dir));
}

/**
 * Deletes a resource directory the transactional way: unpin everything but
 * hold the fds until commit. Rollback re-pins them; commit closes them (which
 * detaches links). A kill in between closes them too, completing the delete.
 *
 * @example Inside a driver's delete
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ResourceRef, Transaction } from "../../engine/types.ts";
 *
 * function remove(ref: ResourceRef, tx: Transaction): void {
 *   deletePinDir(ref, ["link", "prog", "bindings", "meta"], tx);
 * }
 * ```
 */
export function deletePinDir(ref: ResourceRef, pins: readonly string[], tx: Transaction): void {
  // Closes the fds at commit (detaching the link) or after a rollback re-pinned them.
  const holder = new Held(tx, ref.name);
  const held: [string, number][] = [];
  for (const name of pins) {
    const fd = holder.fd(openPin(`${ref.dir}/${name}`, "any"));
    if (fd !== null) held.push([name, fd]);
  }
  // Registered before any unpin: a failure after any unpin re-pins just what is missing.
  tx.onRollback(`re-pin ${ref.dir}`, () => {
    Deno.mkdirSync(ref.dir, { recursive: true, mode: 0o700 });
    for (const [name, fd] of held) {
      if (!pathExists(`${ref.dir}/${name}`)) pinFd(fd, `${ref.dir}/${name}`);
    }
  });
  // One pin at a time, in the caller's order (the link first, so the hook goes
  // before its maps): a crash part-way leaves a partial directory that the
  // next plan replaces.
  for (const [name] of held) unpin(`${ref.dir}/${name}`);
  Deno.removeSync(ref.dir, { recursive: true });
  const programs = held.flatMap(([, fd]) => programIdOf(fd) ?? []);
  // After Held's commit (registered first) has closed the fds: the link is really off.
  tx.onCommit(`release ${ref.name}`, () => awaitProgramsFreed(programs));
}
