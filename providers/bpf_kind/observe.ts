/**
 * What every BPF kind reads back for one resource: nothing when its
 * directory is absent, else its metadata (in the current layout) and the
 * state its pins hold.
 *
 * @module
 */
import type { Observed, ResourceRef } from "../../engine/types.ts";
import type { UpgradeExtra } from "../../engine/meta.ts";
import { readKindMeta } from "../state/meta.ts";
import { pathExists } from "../state/pin_dir.ts";

/**
 * Reads a BPF kind's resource directory: null when there is none.
 *
 * @example A kind's observe
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { DriverContext, ResourceRef } from "../../engine/types.ts";
 * import { readState } from "../tcp_tuning/kernel.ts";
 * import { upgradeTcpTuningExtra } from "../../resources/tcp_tuning/diff.ts";
 *
 * const observe = (_ctx: DriverContext, ref: ResourceRef) =>
 *   observePinDir(ref, readState, upgradeTcpTuningExtra);
 * ```
 */
export function observePinDir<State, Extra>(
  ref: ResourceRef,
  readState: (dir: string) => State,
  upgrade: UpgradeExtra<Extra>,
): Promise<Observed<State, Extra> | null> {
  if (!pathExists(ref.dir)) return Promise.resolve(null);
  return Promise.resolve({ meta: readKindMeta(ref.dir, upgrade), state: readState(ref.dir) });
}
