/**
 * What a Scheduler hands its agent (`AgentLaunch.kind === "scheduler"`):
 * the role of each declared path and the rule that flips roles from live
 * subflow state. This is the contract between the Scheduler resource (which
 * validates the stack's spec and resolves each path's device to its local
 * addresses when it applies) and the agent's roles handler (which applies
 * the roles with the userspace PM's SET_FLAGS to every subflow on a path,
 * those that appear later included, and runs the failover rule). Plain
 * JSON, so it travels in {@linkcode AgentLaunch.params} and its hash says
 * when an agent is outdated.
 *
 * @module
 */
import type { AgentLaunch } from "./identity.ts";

/** A subflow's role: the default scheduler sends on active subflows and keeps backups for when none is usable. */
export type SubflowRole = "active" | "backup";

/** One declared path, as the agent matches subflows to it. */
export interface RolePath {
  /** The path's name for logs, status and `promote`: the declared device, or the address when no device was given. */
  name: string;
  /** The local addresses on this path (the resource resolves a declared device to its addresses). A subflow is on the path when its local address is one of these. */
  locals: string[];
  /** The declared role. */
  role: SubflowRole;
}

/** Thresholds over one path's live subflow state, read from the kernel's TCP diag; any one exceeded means the path is failing. */
export interface FailoverWhen {
  /** Smoothed RTT (tcpi_rtt) above this many milliseconds. */
  rttMsAbove?: number;
  /** Retransmitted over sent segments in the last sample window, above this fraction (0–1). */
  lossAbove?: number;
  /** The path's send rate below this many bytes/s while it holds data (see `judgeSubflow` in roles_health.ts). */
  sendRateBelow?: number;
}

/**
 * The dynamic rule: when every active path fails `when`, the `promote` path
 * becomes active and the failing paths become backups, held down for
 * `holdMs`; then the declared roles come back on probation, and a path that
 * fails again on probation is held down twice as long (at most
 * {@linkcode MAX_HOLD_DOUBLINGS} doublings).
 */
export interface FailoverRule {
  /** When an active path counts as failing. */
  when: FailoverWhen;
  /** The name of the path that is promoted to active (it goes back to its declared role once the hold-down ends). */
  promote: string;
  /** How long a failed path stays backup before the declared roles come back on probation, ms (default {@linkcode DEFAULT_HOLD_MS}). */
  holdMs?: number;
}

/** Where the failover rule stands (the agent's status shows it): declared roles, failed over (holding the failed paths down), or declared roles on probation. */
export type FailoverPhase = "declared" | "promoted" | "probation";

/** The default {@linkcode FailoverRule.holdMs}. */
export const DEFAULT_HOLD_MS = 3000;
/** A re-failure on probation doubles the hold-down, at most this many times (16 × `holdMs`). */
export const MAX_HOLD_DOUBLINGS = 4;

/** `AgentLaunch.params` of a `scheduler` agent. */
export interface SchedulerAgentParams {
  /** The declared paths, in declaration order. */
  paths: RolePath[];
  /** The dynamic rule, if any. */
  failover?: FailoverRule;
}

/**
 * Whether a launch is a Scheduler's (and its params this shape).
 *
 * @example
 * ```ts
 * isSchedulerLaunch({ kind: "scheduler", name: "uplinks", statusFile: "/run/x", params: { paths: [] } }); // true
 * ```
 */
export function isSchedulerLaunch(
  launch: AgentLaunch,
): launch is AgentLaunch & { params: SchedulerAgentParams } {
  return launch.kind === "scheduler";
}
