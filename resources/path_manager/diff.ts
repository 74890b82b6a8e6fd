/**
 * The pure diff for PathManager: the netns it manages, then every sysctl,
 * limit and endpoint action `reconcile` finds.
 *
 * @module
 */
import type { Change, Observed } from "../../engine/types.ts";
import { type PmTarget, reconcile } from "./reconcile.ts";
import { asMemory, type PmDesired, type PmState } from "./types.ts";

/** What the driver resolves to: the desired state plus the netns as it is at plan time. */
export interface PmResolved extends PmDesired {
  /** The live state of the target netns when the plan was made (what a create starts from). */
  baseline: PmState;
}

/** The reconcile target of a resolved spec. */
export function targetOf(desired: PmDesired): PmTarget {
  return {
    endpoints: desired.endpoints,
    limits: desired.limits,
    sysctls: desired.sysctls,
    exclusive: desired.exclusive,
  };
}

/** How a netns is named in plans. */
export function netnsLabel(netns: string | null): string {
  return netns ?? "(caller's netns)";
}

function netnsChange(state: PmState, desired: PmDesired): Change | null {
  if (state.netns === desired.netns && state.netnsIno === desired.netnsIno) return null;
  const reason = state.netnsIno === null
    ? "the managed netns is gone"
    : state.netns === desired.netns
    ? "the netns was recreated (new inode)"
    : "the target netns changed";
  return {
    path: "netns",
    before: `${netnsLabel(state.netns)}${
      state.netnsIno === null ? "" : ` (inode ${state.netnsIno})`
    }`,
    after: `${netnsLabel(desired.netns)} (inode ${desired.netnsIno})`,
    reason: `${reason}: the old one is given back, the new one taken over`,
    hitless: false,
    forcesReplace: true,
  };
}

/**
 * Everything that differs between the kernel and the stack.
 *
 * @example A first plan lists what the create does to the netns
 * ```ts
 * const changes = diffPathManager(null, resolved);
 * ```
 */
export function diffPathManager(
  observed: Observed<PmState | null> | null,
  desired: PmResolved,
): Change[] {
  const state = observed?.state;
  const fresh = () => reconcile(desired.baseline, targetOf(desired), null).map((a) => a.change);
  if (!observed || !state) return fresh();
  const moved = netnsChange(state, desired);
  if (moved) return [moved, ...fresh()];
  const memory = asMemory(observed.meta?.extra);
  return reconcile(state, targetOf(desired), memory).map((a) => a.change);
}
