/**
 * A new build of a kind's program on the maps already pinned (their contents
 * stay), and the atomic swap of the program a link runs.
 *
 * @module
 */
import type { Transaction } from "../../engine/types.ts";
import { BpfObject } from "../libbpf/object.ts";
import type { BpfLink } from "../libbpf/link.ts";
import { openPin } from "../libbpf/pins.ts";
import { libc } from "../libc/ffi.ts";
import { foreignMapProblem } from "../state/pin_audit.ts";

/**
 * Opens and loads an embedded object, reusing existing maps (object's map
 * name → fd). `explain` turns a load failure into the error the kind reports.
 *
 * @example Probing whether this kernel lets a program load
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import * as gen from "../../bpf/gen/mptcpify.ts";
 *
 * function probeLoad(): void {
 *   loadObject(gen.object, "mptcpify").close();
 * }
 * ```
 */
export function loadObject(
  bytes: Uint8Array,
  name: string,
  reuse: Readonly<Record<string, number>> = {},
  explain: (e: unknown) => unknown = (e) => e,
): BpfObject {
  const obj = BpfObject.open(bytes, name);
  try {
    for (const [map, fd] of Object.entries(reuse)) obj.reuseMap(map, fd);
    obj.load();
    return obj;
  } catch (e) {
    obj.close();
    throw explain(e);
  }
}

/**
 * Loads a fresh object whose maps are the ones pinned in `dir`: `maps` names
 * each pin and the object's map it stands for. `load` opens and loads the
 * object with those fds as reused maps. The pinned fds are closed again (the
 * object keeps its own). A missing pin, or a foreign map at a pin name (the
 * field-by-field check every kind's map opens go through), means the
 * resource must be replaced.
 *
 * @example A new sock_ops build on the pinned ruleset and counters
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import * as gen from "../../bpf/gen/sock_ops.ts";
 *
 * function rebuild(dir: string) {
 *   const maps = { ruleset: "ruleset", counters: "counters" };
 *   return loadOnPinnedMaps(dir, maps, (reuse) => loadObject(gen.object, "sock_ops", reuse));
 * }
 * ```
 */
export function loadOnPinnedMaps(
  dir: string,
  maps: Readonly<Record<string, string>>,
  load: (reuse: Record<string, number>) => BpfObject,
): BpfObject {
  const reuse: Record<string, number> = {};
  try {
    for (const [pin, map] of Object.entries(maps)) {
      const fd = openPin(`${dir}/${pin}`, "map");
      if (fd === null) throw new Error(`${dir}/${pin} is missing: the resource must be replaced`);
      reuse[map] = fd;
      const foreign = foreignMapProblem(dir, pin, fd);
      if (foreign) throw new Error(`${foreign}: the resource must be replaced`);
    }
    return load(reuse);
  } finally {
    for (const fd of Object.values(reuse)) libc().close(fd);
  }
}

/**
 * Swaps the program `link` runs, atomically (no moment without a program),
 * and registers the swap back to `oldProgFd` as its undo. The caller keeps
 * both fds open until the apply ends.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Transaction } from "../../engine/types.ts";
 * import type { BpfLink } from "../libbpf/link.ts";
 * import type { BpfProgram } from "../libbpf/object.ts";
 * import { openPin } from "../libbpf/pins.ts";
 * import type { Held } from "./handles.ts";
 *
 * function swap(tx: Transaction, link: BpfLink, newProg: BpfProgram, held: Held, dir: string) {
 *   swapProgram(tx, link, newProg.fd, held.fd(openPin(`${dir}/prog`, "prog")));
 * }
 * ```
 */
export function swapProgram(
  tx: Transaction,
  link: BpfLink,
  newProgFd: number,
  oldProgFd: number | null,
): void {
  tx.onRollback("swap the old program back", () => {
    if (oldProgFd !== null) link.updateProgram(oldProgFd);
  });
  link.updateProgram(newProgFd);
}
