/**
 * The PathManager's policy agent as kernel state: the launch a spec resolves
 * to, where its status file lives, how `observe` reads its liveness, and the
 * start / stop an apply runs. The agent itself is `providers/mptcp_agent/`.
 *
 * The status file cannot sit on bpffs (it takes pins only), so it mirrors the
 * resource directory under {@linkcode AGENT_STATUS_ROOT}: the agent of
 * `/sys/fs/bpf/sockform/lab/client-pm` writes
 * `/run/sockform/agents/sys/fs/bpf/sockform/lab/client-pm.json`. An agent
 * run by a supervisor (`agent-unit`) writes the same file, so `observe`
 * adopts whichever live agent reported there last.
 *
 * @module
 */
import type { DriverContext, ResourceRef, Transaction } from "../../engine/types.ts";
import type { PathManager } from "../../resources/path_manager.ts";
import { policyKey, policyLabel } from "../../resources/path_manager/agent_diff.ts";
import type { PmAgentDesired, PmAgentState } from "../../resources/path_manager/types.ts";
import { PlanError } from "../../engine/errors.ts";
import {
  AGENT_VERSION,
  type AgentIdentity,
  type AgentLaunch,
  launchHash,
  processAlive,
} from "../mptcp_agent/identity.ts";
import type { PathManagerAgentParams } from "../mptcp_agent/policy_spec.ts";
import {
  AGENT_STUCK_AFTER_MS,
  agentLaunchFile,
  AgentStartError,
  readLaunchFile,
  reloadAgent,
  startAgent,
  stopAgent,
} from "../mptcp_agent/process.ts";
import { agentLogPath, type AgentStatus, readAgentStatus } from "../mptcp_agent/status.ts";

/** Where agents' status files live (a tmpfs, gone at reboot as the agents are). */
export const AGENT_STATUS_ROOT = "/run/sockform/agents";

/**
 * The status file of the agent of the resource in `dir`.
 *
 * @example Where an agent reports
 * ```ts
 * agentStatusFile("/sys/fs/bpf/sockform/lab/pm"); // "/run/sockform/agents/sys/fs/bpf/sockform/lab/pm.json"
 * ```
 */
export function agentStatusFile(dir: string): string {
  return `${AGENT_STATUS_ROOT}${dir.startsWith("/") ? "" : "/"}${dir}.json`;
}

/** Removes an agent's status, launch and log files and their now empty directories. */
function forgetAgentFiles(statusFile: string): void {
  for (const file of [statusFile, agentLaunchFile(statusFile), agentLogPath(statusFile)]) {
    try {
      Deno.removeSync(file);
    } catch { /* not there */ }
  }
  let dir = dirOf(statusFile);
  while (dir.startsWith(`${AGENT_STATUS_ROOT}/`)) {
    try {
      Deno.removeSync(dir); // only an empty one
    } catch {
      return;
    }
    dir = dir.slice(0, dir.lastIndexOf("/"));
  }
}

const dirOf = (path: string) => path.slice(0, path.lastIndexOf("/"));

async function fileDigest(path: string): Promise<string> {
  const bytes = await Deno.readFile(path);
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function checkModule(r: PathManager, module: string): void {
  try {
    if (Deno.statSync(module).isFile) return;
  } catch { /* reported below */ }
  throw new PlanError(r.name, "policy.module", `policy module ${module} does not exist`);
}

/**
 * The agent a spec wants (null without a policy): kind `path_manager`, the
 * netns, and {@linkcode PathManagerAgentParams}. A policy module must exist;
 * its content's digest is part of the params and of the policy key, so an
 * edited module restarts the agent (a running one would keep the old code).
 *
 * @example Resolving a resource's agent
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { DriverContext } from "../../engine/types.ts";
 * import type { PathManager } from "../../resources/path_manager.ts";
 *
 * async function agentOf(ctx: DriverContext, resource: PathManager) {
 *   return await resolveAgent(ctx, resource); // { launch, hash, label } | null
 * }
 * ```
 */
export async function resolveAgent(
  ctx: DriverContext,
  r: PathManager,
): Promise<PmAgentDesired | null> {
  const policy = r.spec.policy;
  if (!policy || r.spec.mode !== "userspace") return null;
  if ("module" in policy) checkModule(r, policy.module);
  // An edited module is another policy: the agent must import it afresh (a restart).
  const digest = "module" in policy ? await fileDigest(policy.module) : undefined;
  const params: PathManagerAgentParams & { moduleDigest?: string } = {
    policy,
    locals: r.spec.locals,
    ...(digest ? { moduleDigest: digest } : {}),
  };
  const launch: Omit<AgentLaunch, "statusFile"> = {
    kind: "path_manager",
    name: `${ctx.stackName}/${r.name}`,
    ...(r.spec.netns ? { netns: r.spec.netns } : {}),
    params,
  };
  const hash = await launchHash({ ...launch, statusFile: "" });
  const version = AGENT_VERSION;
  const key = digest ? `${policyKey(policy)}#${digest}` : policyKey(policy);
  return { launch, hash, version, label: policyLabel(policy), policyKey: key };
}

function healthOf(status: AgentStatus | undefined): Omit<PmAgentState, "pid"> {
  const version = status?.version ?? "unknown";
  const paramsHash = status?.paramsHash ?? "";
  if (status?.state === "failed") {
    return { health: "failed", reason: status.error ?? "no error reported", version, paramsHash };
  }
  if (!status || Date.now() - status.heartbeatAt > AGENT_STUCK_AFTER_MS) {
    const reason = `no heartbeat in its status file for ${AGENT_STUCK_AFTER_MS / 1000} s`;
    return { health: "stuck", reason, version, paramsHash };
  }
  return { health: "running", version, paramsHash };
}

/**
 * The live agent of a resource: the one its status file names when that
 * process still runs (a supervisor may have restarted it), else the recorded
 * one, read from `/proc` (gone, zombie or a reused pid is `dead`).
 *
 * @example Reading the agent in observe
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { PmMemory } from "../../resources/path_manager/types.ts";
 *
 * function agentState(memory: PmMemory) {
 *   return observeAgent(memory.agent); // PmAgentState | null
 * }
 * ```
 */
export function observeAgent(
  recorded: AgentIdentity | undefined,
  policyKey?: string,
): PmAgentState | null {
  if (!recorded) return null;
  const seen = observeProcess(recorded);
  return policyKey ? { ...seen, policyKey } : seen;
}

function observeProcess(recorded: AgentIdentity): PmAgentState {
  const status = readAgentStatus(recorded.statusFile);
  if (status && status.state !== "stopped" && processAlive(status.pid, status.startTime)) {
    return { pid: status.pid, ...healthOf(status) };
  }
  if (!processAlive(recorded.pid, recorded.startTime)) {
    const reason = `pid ${recorded.pid} (start time ${recorded.startTime}) is gone`;
    return { pid: recorded.pid, health: "dead", reason, version: AGENT_VERSION, paramsHash: "" };
  }
  const mine = status?.pid === recorded.pid ? status : undefined;
  return { pid: recorded.pid, ...healthOf(mine) };
}

/**
 * A start failure named after the field that chose what failed: the kind's
 * own (`startField`, e.g. a Scheduler's `paths`), else the policy (a module
 * is the user's code).
 *
 * @example A Scheduler's roles agent
 * ```ts
 * const desired = { launch: { kind: "scheduler" as const, name: "s/u", params: {} }, hash: "", version: "1", label: "roles a=active", policyKey: "scheduler-roles", startField: "paths" };
 * agentStartError(desired, new Error("not ready")).message; // "paths (roles a=active): not ready"
 * ```
 */
export function agentStartError(desired: PmAgentDesired, err: unknown): AgentStartError {
  const message = err instanceof Error ? err.message : String(err);
  const field = desired.startField ??
    (desired.policyKey.startsWith("module:") ? "policy.module" : "policy");
  return new AgentStartError(`${field} (${desired.label}): ${message}`);
}

/**
 * Starts the agent of `desired` for the resource at `ref`; a rollback stops it.
 *
 * @example Starting the agent in create
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ResourceRef, Transaction } from "../../engine/types.ts";
 * import type { PmAgentDesired } from "../../resources/path_manager/types.ts";
 *
 * async function start(ref: ResourceRef, desired: { agent: PmAgentDesired }, tx: Transaction) {
 *   return await startPmAgent(ref, desired.agent, tx);
 * }
 * ```
 */
export async function startPmAgent(
  ref: ResourceRef,
  desired: PmAgentDesired,
  tx: Transaction,
): Promise<AgentIdentity> {
  const statusFile = agentStatusFile(ref.dir);
  Deno.mkdirSync(dirOf(statusFile), { recursive: true });
  const identity = await startAgent({ ...desired.launch, statusFile }).catch((err) => {
    forgetAgentFiles(statusFile);
    throw agentStartError(desired, err);
  });
  tx.onRollback(`stop agent pid ${identity.pid}`, async () => {
    await stopAgent(identity);
    forgetAgentFiles(statusFile);
  });
  return identity;
}

/**
 * Hands a running agent new params (same policy) through its launch file and
 * SIGHUP; null when it did not take them in time (the caller restarts it).
 *
 * @example New params in update
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ResourceRef } from "../../engine/types.ts";
 * import type { AgentIdentity } from "../mptcp_agent/identity.ts";
 * import type { PmAgentDesired } from "../../resources/path_manager/types.ts";
 *
 * async function reload(
 *   ref: ResourceRef,
 *   agent: PmAgentDesired,
 *   running: AgentIdentity,
 *   restart: () => Promise<AgentIdentity>,
 * ): Promise<AgentIdentity> {
 *   return await reloadPmAgent(ref, agent, running) ?? await restart();
 * }
 * ```
 */
export function reloadPmAgent(
  ref: ResourceRef,
  desired: PmAgentDesired,
  current: AgentIdentity,
): Promise<AgentIdentity | null> {
  return reloadAgent(current, { ...desired.launch, statusFile: agentStatusFile(ref.dir) });
}

/**
 * Stops the recorded agent and the one its status file names (when a
 * supervisor restarted it), each bounded by `stopAgent`'s grace periods. A
 * rollback starts a live one again from its launch file. Its files go, but
 * for a restart (`keepLog`) its log stays: it says why the old one died.
 *
 * @example Stopping the agent in destroy
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Transaction } from "../../engine/types.ts";
 * import type { PmMemory } from "../../resources/path_manager/types.ts";
 *
 * async function stop(memory: PmMemory, tx: Transaction): Promise<void> {
 *   await stopPmAgent(memory.agent, tx);
 * }
 * ```
 */
export async function stopPmAgent(
  recorded: AgentIdentity | undefined,
  tx: Transaction,
  keepLog = false,
): Promise<void> {
  if (!recorded) return;
  const status = readAgentStatus(recorded.statusFile);
  const live = status && processAlive(status.pid, status.startTime) ? status : recorded;
  const relaunch = processAlive(live.pid, live.startTime)
    ? readLaunchFile(agentLaunchFile(recorded.statusFile))
    : undefined;
  if (status && status.pid !== recorded.pid) await stopAgent(status);
  await stopAgent(recorded);
  if (!keepLog) forgetAgentFiles(recorded.statusFile);
  // A later failure puts an agent back; observe adopts it through its status file.
  if (!relaunch) return;
  tx.onRollback(`restart agent ${relaunch.name}`, () => {
    Deno.mkdirSync(dirOf(relaunch.statusFile), { recursive: true });
    return startAgent(relaunch);
  });
}
