/**
 * The pure diff for PathManager: the netns it manages, then every sysctl,
 * limit and endpoint action `reconcile` finds.
 *
 * @module
 */
import type { Change, Observed } from "../../engine/types.ts";
import { type PmAction, type PmTarget, reconcile } from "./reconcile.ts";
import { agentAction, type PmAgentAction } from "./agent_diff.ts";
import type { PmDesired, PmMemory, PmState } from "./types.ts";

/** What the driver resolves to: the desired state plus the netns as it is at plan time. */
export interface PmResolved extends PmDesired {
  /** The live state of the target netns when the plan was made (what a create starts from). */
  baseline: PmState;
}

/**
 * The reconcile target of a resolved spec.
 *
 * @example The actions an apply runs
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { PmDesired, PmMemory, PmState } from "../../mod.ts";
 * import { reconcile } from "./reconcile.ts";
 *
 * function actions(state: PmState, desired: PmDesired, memory: PmMemory | null) {
 *   return reconcile(state, targetOf(desired), memory);
 * }
 * ```
 */
export function targetOf(desired: PmDesired): PmTarget {
  return {
    endpoints: desired.endpoints,
    limits: desired.limits,
    sysctls: desired.sysctls,
    exclusive: desired.exclusive,
  };
}

/**
 * How a netns is named in plans.
 *
 * @example A spec without netns
 * ```ts
 * netnsLabel(null); // "(caller's netns)"
 * ```
 */
export function netnsLabel(netns: string | null): string {
  return netns ?? "(caller's netns)";
}

/**
 * The netns the resource manages vs the one the spec names. The inode comes
 * from the metadata: the live one would follow a netns recreated under the
 * same path, whose endpoints and originals have nothing to do with ours.
 */
function netnsChange(state: PmState, memory: PmMemory | null, desired: PmDesired): Change | null {
  const ino = state.netnsIno === null ? null : memory?.netnsIno ?? state.netnsIno;
  if (state.netns === desired.netns && ino === desired.netnsIno) return null;
  const reason = ino === null
    ? "the managed netns is gone"
    : state.netns === desired.netns
    ? "the netns was recreated (new inode)"
    : "the target netns changed";
  return {
    path: "netns",
    before: `${netnsLabel(state.netns)}${ino === null ? "" : ` (inode ${ino})`}`,
    after: `${netnsLabel(desired.netns)} (inode ${desired.netnsIno})`,
    reason: `${reason}: the old one is given back, the new one taken over`,
    hitless: false,
    forcesReplace: true,
  };
}

/** What a plan shows for a PathManager, each line with what apply runs for it. */
export interface PmPlanActions {
  /** The netns change (a replace), when the managed netns is not the spec's. */
  moved: Change | null;
  /** Sysctls, limits and endpoints. */
  netlink: PmAction[];
  agent: PmAgentAction | null;
}

/**
 * Everything apply would do: the diff's changes come from these, and the
 * driver's update runs exactly their operations.
 *
 * @example The operations of a plan's update
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Observed, PmMemory, PmResolved, PmState } from "../../mod.ts";
 *
 * function update(observed: Observed<PmState | null, PmMemory | null>, desired: PmResolved) {
 *   const { netlink, agent } = pmActions(observed, desired);
 *   return { netlink, agent };
 * }
 * ```
 */
export function pmActions(
  observed: Observed<PmState | null, PmMemory | null> | null,
  desired: PmResolved,
): PmPlanActions {
  const state = observed?.state;
  const fresh = (moved: Change | null): PmPlanActions => ({
    moved,
    netlink: reconcile(desired.baseline, targetOf(desired), null),
    agent: agentAction(null, desired.agent),
  });
  if (!observed || !state) return fresh(null);
  const memory = observed.meta?.extra ?? null;
  const moved = netnsChange(state, memory, desired);
  if (moved) return fresh(moved);
  return {
    moved: null,
    netlink: reconcile(state, targetOf(desired), memory),
    agent: agentAction(state.agent, desired.agent),
  };
}

/**
 * Everything that differs between the kernel and the stack.
 *
 * @example A first plan lists what the create does to the netns
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { PmResolved } from "../../mod.ts";
 *
 * function createChanges(resolved: PmResolved) {
 *   return diffPathManager(null, resolved);
 * }
 * ```
 */
export function diffPathManager(
  observed: Observed<PmState | null, PmMemory | null> | null,
  desired: PmResolved,
): Change[] {
  const { moved, netlink, agent } = pmActions(observed, desired);
  return [
    ...(moved ? [moved] : []),
    ...netlink.map((a) => a.change),
    ...(agent ? [agent.change] : []),
  ];
}
