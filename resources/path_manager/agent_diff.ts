/**
 * The policy agent's part of a PathManager plan: whether its agent must be
 * started, restarted (dead, failed, stuck or outdated) or stopped, as one
 * plan line that names the agent's pid and why. Pure.
 *
 * @module
 */
import type { Change } from "../../engine/types.ts";
import type { PmAgentDesired, PmAgentState } from "./types.ts";

/** What apply does to the agent. */
export type PmAgentOp = "start" | "restart" | "reload" | "stop";

/** The agent's plan line and the operation behind it. */
export interface PmAgentAction {
  change: Change;
  op: PmAgentOp;
}

function describeState(s: PmAgentState): string {
  return `agent pid ${s.pid} ${s.health}`;
}

function restartReason(s: PmAgentState, want: PmAgentDesired): string | null {
  if (s.health !== "running") return `agent pid ${s.pid} is ${s.health}: ${s.reason ?? "?"}`;
  if (s.version !== want.version) {
    return `agent pid ${s.pid} is outdated: runs ${s.version}, want ${want.version}`;
  }
  if (s.paramsHash !== want.hash) {
    return `agent pid ${s.pid} is outdated: runs another policy or params`;
  }
  return null;
}

/** A running agent of this version with the same policy takes new params without a restart. */
function reloadable(s: PmAgentState, want: PmAgentDesired): boolean {
  return s.health === "running" && s.version === want.version && s.policyKey === want.policyKey;
}

/**
 * The agent action that brings `state` (what observe read, or nothing) to
 * `desired` (the agent the spec wants, or none); null when they agree.
 *
 * @example A killed agent is drift
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { PmAgentDesired } from "../../mod.ts";
 *
 * function afterKill(want: PmAgentDesired) {
 *   const { version, hash: paramsHash } = want;
 *   const a = agentAction({ pid: 42, health: "dead", reason: "pid 42 is gone", version, paramsHash }, want);
 *   return a?.op; // "restart"
 * }
 * ```
 */
export function agentAction(
  state: PmAgentState | null | undefined,
  desired: PmAgentDesired | null,
): PmAgentAction | null {
  const after = desired ? `agent running ${desired.label}` : undefined;
  if (!desired) {
    if (!state || state.health !== "running") return null;
    const reason = `no policy declared: agent pid ${state.pid} is stopped`;
    return {
      op: "stop",
      change: { path: "policy", before: describeState(state), reason, hitless: true },
    };
  }
  if (!state) {
    const reason = "no policy agent runs for this netns";
    return { op: "start", change: { path: "policy", after, reason, hitless: true } };
  }
  const why = restartReason(state, desired);
  if (!why) return null;
  if (reloadable(state, desired)) {
    const reason = `agent pid ${state.pid} runs other params: apply hands it the new ones (SIGHUP)`;
    return {
      op: "reload",
      change: { path: "policy", before: describeState(state), after, reason, hitless: true },
    };
  }
  const reason = `${why}; apply starts a new one`;
  return {
    op: "restart",
    change: { path: "policy", before: describeState(state), after, reason, hitless: true },
  };
}

/**
 * Which policy, without its params: a builtin's name or a module's path.
 *
 * @example A builtin's key
 * ```ts
 * policyKey({ builtin: "ndiffports" }); // "builtin:ndiffports"
 * ```
 */
export function policyKey(policy: { builtin: string } | { module: string }): string {
  return "module" in policy ? `module:${policy.module}` : `builtin:${policy.builtin}`;
}

/**
 * How a policy reads in plans.
 *
 * @example A builtin's label
 * ```ts
 * policyLabel({ builtin: "ndiffports", subflows: 3 }); // "ndiffports(3)"
 * ```
 */
export function policyLabel(
  policy: { builtin: string; subflows?: number } | { module: string },
): string {
  if ("module" in policy) return `module ${policy.module}`;
  return policy.subflows === undefined ? policy.builtin : `${policy.builtin}(${policy.subflows})`;
}
