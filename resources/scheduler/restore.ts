/**
 * The operations of a Scheduler's destroy, as plan lines with the kernel
 * operations behind them.
 *
 * @module
 */
import { isBackup, roleOf, type SchedAction, setBackup } from "./diff.ts";
import { roleKey, type SchedMemory, type SchedState } from "./types.ts";

/**
 * The operations of a destroy: `net.mptcp.scheduler` back to its value before
 * the stack took over (`default` when that scheduler is no longer there),
 * every pinned link unregistered, every changed endpoint flag given back.
 *
 * @example Destroy
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { orderedSchedOps } from "./diff.ts";
 *
 * type Args = Parameters<typeof restoreActions>;
 *
 * function destroyOps(state: Args[0], memory: Args[1], available: Args[2]) {
 *   return orderedSchedOps(restoreActions(state, memory, available));
 * }
 * ```
 */
export function restoreActions(
  state: SchedState,
  memory: SchedMemory | null,
  available: readonly string[],
): SchedAction[] {
  const original = memory?.originalScheduler ?? null;
  const mine = new Set(state.links.map((l) => l.kernelName));
  const back = original !== null && available.includes(original) && !mine.has(original)
    ? original
    : "default";
  const out: SchedAction[] = [];
  if (state.scheduler !== null && original !== null && state.scheduler !== back) {
    const reason = "destroy: back to its value before the stack took over";
    out.push({
      change: { path: "scheduler", before: state.scheduler, after: back, reason, hitless: true },
      ops: [{ op: "sysctl", from: state.scheduler, to: back }],
    });
  }
  for (const l of state.links) {
    const reason = "destroy: unregistered";
    out.push({
      change: { path: "scheduler", before: l.kernelName, reason, hitless: false },
      ops: [{ op: "unregister", kernelName: l.kernelName }],
    });
  }
  const live = new Map(state.endpoints.map((e) => [roleKey(e), e]));
  for (const [key, backup] of Object.entries(memory?.originalBackup ?? {})) {
    const e = live.get(key);
    if (!e || isBackup(e) === backup) continue;
    const reason = "destroy: its backup flag goes back to what it was";
    out.push({
      change: {
        path: "paths",
        before: roleOf(isBackup(e)),
        after: roleOf(backup),
        reason,
        hitless: true,
      },
      ops: [setBackup(e, backup)],
    });
  }
  return out;
}
