/**
 * The pure diff for Scheduler, as actions: one plan line (`Change`) each plus
 * the kernel operations that make it so, so what apply does is what the plan
 * showed. Covers the BPF scheduler's struct_ops link, `net.mptcp.scheduler`,
 * the roles (endpoint backup flags in kernel-PM mode, the agent in userspace
 * mode) and the mode itself.
 *
 * @module
 */
import type { Change, Observed } from "../../engine/types.ts";
import { agentAction, type PmAgentAction } from "../path_manager/agent_diff.ts";
import {
  type BpfSchedulerDesired,
  roleKey,
  type SchedEndpoint,
  type SchedMemory,
  type SchedResolved,
  type SchedState,
} from "./types.ts";

/** One kernel operation of a Scheduler. */
export type SchedOp =
  | { op: "register"; bpf: BpfSchedulerDesired }
  | { op: "replace"; bpf: BpfSchedulerDesired; from?: BpfSchedulerDesired }
  | { op: "unregister"; kernelName: string }
  | { op: "sysctl"; from: string | null; to: string }
  | { op: "setBackup"; id: number; address: string; flags: string[]; to: boolean };

/** A plan line and the operations behind it. */
export interface SchedAction {
  change: Change;
  ops: SchedOp[];
}

/** Everything a plan shows for a Scheduler. */
export interface SchedPlanActions {
  /** The netns change (a replace), when the managed netns is not the spec's. */
  moved: Change | null;
  kernel: SchedAction[];
  agent: PmAgentAction | null;
}

/**
 * A backup flag as a role.
 *
 * @example
 * ```ts
 * roleOf(true); // "backup"
 * ```
 */
export const roleOf = (backup: boolean): string => (backup ? "backup" : "active");
/**
 * Whether an endpoint has the backup flag.
 *
 * @example
 * ```ts
 * isBackup({ id: 1, address: "10.0.0.1", flags: ["backup"] }); // true
 * ```
 */
export const isBackup = (e: SchedEndpoint): boolean => e.flags.includes("backup");

function registerAction(state: SchedState, memory: SchedMemory | null, want: BpfSchedulerDesired) {
  const link = state.links.find((l) => l.kernelName === want.kernelName);
  if (link && link.mapId !== 0) return null;
  const before = link ? `${want.kernelName} link detached` : undefined;
  const drift = memory?.bpf?.kernelName === want.kernelName;
  const reason = drift
    ? `the struct_ops link of ${want.kernelName} is ${link ? "detached" : "gone"}: registered again`
    : `registers ${want.kernelName} (struct_ops link pinned as its own link)`;
  const after = `${want.kernelName} registered`;
  return {
    change: { path: "scheduler", before, after, reason, hitless: true },
    ops: [{ op: "register", bpf: want }] as SchedOp[],
  };
}

function replaceAction(memory: SchedMemory | null, want: BpfSchedulerDesired): SchedAction | null {
  if (memory?.bpf?.objectHash === want.objectHash) return null;
  const reason = `new program for ${want.kernelName}: a struct_ops link update where the kernel ` +
    "has one; MPTCP schedulers have none (EOPNOTSUPP), so it is unregistered and registered " +
    "again, and connections created in between get the kernel's default scheduler";
  return {
    change: {
      path: "scheduler",
      before: `${want.kernelName} object ${memory?.bpf?.objectHash.slice(0, 12) ?? "?"}`,
      after: `${want.kernelName} object ${want.objectHash.slice(0, 12)}`,
      reason,
      hitless: false,
    },
    ops: [{ op: "replace", bpf: want, ...(memory?.bpf ? { from: memory.bpf } : {}) }],
  };
}

function bpfActions(state: SchedState, memory: SchedMemory | null, d: SchedResolved) {
  const want = d.bpf;
  const out: SchedAction[] = [];
  const first = want && (registerAction(state, memory, want) ?? replaceAction(memory, want));
  if (first) out.push(first);
  for (const l of state.links) {
    if (l.kernelName === want?.kernelName) continue;
    const reason =
      `${l.kernelName} no longer declared: unregistered; connections created with it ` +
      "lose the scheduler they were given";
    out.push({
      change: { path: "scheduler", before: `${l.kernelName} registered`, reason, hitless: false },
      ops: [{ op: "unregister", kernelName: l.kernelName }],
    });
  }
  return out;
}

function sysctlAction(state: SchedState, d: SchedResolved): SchedAction | null {
  if (d.scheduler === null || state.scheduler === d.scheduler) return null;
  const reason = `net.mptcp.scheduler ${state.scheduler ?? "(unset)"} → ${d.scheduler}: applies ` +
    "to NEW connections only (the kernel reads it when a connection is created); existing " +
    "connections keep their scheduler";
  return {
    change: {
      path: "scheduler",
      before: state.scheduler,
      after: d.scheduler,
      reason,
      hitless: true,
    },
    ops: [{ op: "sysctl", from: state.scheduler, to: d.scheduler }],
  };
}

/**
 * The operation that sets an endpoint's backup flag to `to`.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function promote(endpoint: Parameters<typeof setBackup>[0]) {
 *   return setBackup(endpoint, true); // { op: "setBackup", id, address, flags, to: true }
 * }
 * ```
 */
export function setBackup(e: SchedEndpoint, to: boolean): SchedOp {
  return { op: "setBackup", id: e.id, address: e.address, flags: e.flags, to };
}

function roleActions(state: SchedState, memory: SchedMemory | null, d: SchedResolved) {
  const live = new Map(state.endpoints.map((e) => [roleKey(e), e]));
  const out: SchedAction[] = [];
  for (const r of d.roles) {
    const e = live.get(roleKey(r));
    if (!e || isBackup(e) === r.backup) continue;
    const drift = memory?.originalBackup[roleKey(r)] !== undefined;
    const how = "SET_FLAGS on the endpoint; the kernel sends MP_PRIO on its subflows";
    out.push({
      change: {
        path: `${r.path}.role`,
        before: `endpoint ${e.address} (id ${e.id}) ${roleOf(isBackup(e))}`,
        after: roleOf(r.backup),
        reason: drift ? `the endpoint's backup flag was changed outside the stack: ${how}` : how,
        hitless: true,
      },
      ops: [setBackup(e, r.backup)],
    });
  }
  const declared = new Set(d.roles.map(roleKey));
  for (const [key, original] of Object.entries(memory?.originalBackup ?? {})) {
    const e = live.get(key);
    if (declared.has(key) || !e || isBackup(e) === original) continue;
    out.push({
      change: {
        path: "paths",
        before: `endpoint ${e.address} (id ${e.id}) ${roleOf(isBackup(e))}`,
        after: roleOf(original),
        reason: "no longer on a declared path: its backup flag goes back to what it was",
        hitless: true,
      },
      ops: [setBackup(e, original)],
    });
  }
  return out;
}

function modeChange(memory: SchedMemory | null, d: SchedResolved): Change | null {
  if (memory?.mode === d.mode.mode) return null;
  const how = d.mode.mode === "kernel"
    ? "roles are the backup flag of the endpoints on each path (SET_FLAGS)"
    : "roles go through the scheduler agent (SET_FLAGS per subflow)";
  return {
    path: "mode",
    before: memory?.mode,
    after: `${d.mode.mode} path manager`,
    reason: `${d.mode.why}: ${how}`,
    hitless: true,
  };
}

function schedAgentAction(state: SchedState, d: SchedResolved): PmAgentAction | null {
  const a = agentAction(state.agent, d.agent);
  if (!a) return null;
  const reason = a.op === "stop" ? "no roles for the agent: it is stopped" : a.change.reason;
  return { ...a, change: { ...a.change, path: "paths", reason } };
}

function netnsChange(state: SchedState, memory: SchedMemory | null, d: SchedResolved) {
  const ino = memory?.netnsIno ?? state.netnsIno;
  if (state.netnsIno !== null && state.netns === d.netns && ino === d.netnsIno) return null;
  return {
    path: "netns",
    before: `${state.netns ?? "(caller's netns)"}${ino === null ? "" : ` (inode ${ino})`}`,
    after: `${d.netns ?? "(caller's netns)"} (inode ${d.netnsIno})`,
    reason: "the managed netns is gone, recreated or changed: the new one is taken over",
    hitless: false,
    forcesReplace: true,
  };
}

/**
 * Everything apply would do; the driver's create and update run exactly
 * these operations.
 *
 * @example The operations of an update
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * type Args = Parameters<typeof schedActions>;
 *
 * function update(observed: Args[0], desired: Args[1]) {
 *   const { kernel, agent } = schedActions(observed, desired);
 *   return { kernel, agent };
 * }
 * ```
 */
export function schedActions(
  observed: Observed<SchedState | null, SchedMemory | null> | null,
  d: SchedResolved,
): SchedPlanActions {
  const state = observed?.state ?? null;
  const memory = observed?.meta?.extra ?? null;
  const moved = state ? netnsChange(state, memory, d) : null;
  const [s, m] = !state || moved ? [d.baseline, null] : [state, memory];
  const mode = modeChange(m, d);
  const sysctl = sysctlAction(s, d);
  return {
    moved,
    kernel: [
      ...(mode ? [{ change: mode, ops: [] }] : []),
      ...bpfActions(s, m, d),
      ...(sysctl ? [sysctl] : []),
      ...roleActions(s, m, d),
    ],
    agent: schedAgentAction(s, d),
  };
}

const PHASE: Record<SchedOp["op"], number> = {
  register: 0,
  replace: 0,
  sysctl: 1,
  unregister: 2,
  setBackup: 3,
};

/**
 * The operations in the order apply runs them: a scheduler is registered
 * before the sysctl names it, and the old one unregistered only after.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * type Args = Parameters<typeof schedActions>;
 *
 * function ops(observed: Args[0], desired: Args[1]) {
 *   return orderedSchedOps(schedActions(observed, desired).kernel);
 * }
 * ```
 */
export function orderedSchedOps(actions: readonly SchedAction[]): SchedOp[] {
  return actions.flatMap((a) => a.ops).sort((x, y) => PHASE[x.op] - PHASE[y.op]);
}

/**
 * Every change between the kernel and the stack.
 *
 * @example A first plan
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function createChanges(resolved: Parameters<typeof diffScheduler>[1]) {
 *   return diffScheduler(null, resolved);
 * }
 * ```
 */
export function diffScheduler(
  observed: Observed<SchedState | null, SchedMemory | null> | null,
  d: SchedResolved,
): Change[] {
  const { moved, kernel, agent } = schedActions(observed, d);
  return [
    ...(moved ? [moved] : []),
    ...kernel.map((a) => a.change),
    ...(agent ? [agent.change] : []),
  ];
}
