/**
 * Agent processes as state: start one detached, record its identity, read
 * its health from the kernel (`/proc`) and its status file, stop it.
 *
 * - **Start.** `Deno.execPath() run -A agent_main.ts '<launch JSON>'`, in its
 *   own session (`detached`), stdio to /dev/null, unref'd so the CLI can
 *   exit. It is ready when its status file names its pid with state `ready`;
 *   the identity is what it reported there, checked against `/proc`.
 * - **Health.** `dead` when the pid is gone, reused (another start time) or a
 *   zombie; `failed` when it reported a start error; `stuck` when its
 *   heartbeat is older than a bound; `outdated` when it runs another version
 *   or params hash than the one desired; else `running`. Anything but
 *   `running` is drift for the resource that owns it.
 * - **Stop.** SIGTERM, a bounded wait, then SIGKILL and a bounded wait; only
 *   when the pid still has the recorded start time (never a reused pid).
 *
 * @module
 */
import { AGENT_VERSION, type AgentIdentity, type AgentLaunch, launchHash } from "./identity.ts";
import { processAlive, readProcStat } from "./identity.ts";
import { readAgentStatus } from "./status.ts";
import { programCommand } from "../system/programs.ts";

const AGENT_MAIN = new URL("./agent_main.ts", import.meta.url);
const REPO_CONFIG = new URL("../../deno.json", import.meta.url);

/**
 * How long a start may take (Deno's own start-up is most of it). A hang
 * guard, not a target: an agent that fails or exits is reported at once. The
 * first start in the 6.12 and 6.1 VMs under TCG on a loaded host took over
 * 20 s (2026-11-28).
 */
export const AGENT_READY_TIMEOUT_MS = 60_000;
/** A heartbeat older than this makes a live agent `stuck` (it writes one a second). */
export const AGENT_STUCK_AFTER_MS = 10_000;

/** An agent that could not be started: the cause and what it reported. */
export class AgentStartError extends Error {
  override name = "AgentStartError";
}

/**
 * The agent's command line for `launch` (Deno first): what {@linkcode startAgent}
 * spawns and what a supervisor's unit runs.
 *
 * @example The command a unit runs
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { AgentIdentity, AgentLaunch } from "./identity.ts";
 *
 * function argv(launch: AgentLaunch) {
 *   const [deno, ...args] = agentCommandLine(launch);
 *   return { deno, args };
 * }
 * ```
 */
export function agentCommandLine(launch: AgentLaunch): string[] {
  return [Deno.execPath(), ...agentArgv(launch)];
}

/**
 * The launch file of an agent: next to its status file. {@linkcode startAgent}
 * writes it and passes `@file`, so SIGHUP makes the agent re-read it.
 *
 * @example The launch file beside a status file
 * ```ts
 * agentLaunchFile("/run/sockform/agents/x.json"); // "/run/sockform/agents/x.launch.json"
 * ```
 */
export function agentLaunchFile(statusFile: string): string {
  return `${statusFile.replace(/\.json$/, "")}.launch.json`;
}

/**
 * Reads a launch file; undefined when unreadable.
 *
 * @example Reading what an agent runs
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { AgentIdentity, AgentLaunch } from "./identity.ts";
 *
 * function launchOf(identity: AgentIdentity): AgentLaunch | undefined {
 *   return readLaunchFile(agentLaunchFile(identity.statusFile));
 * }
 * ```
 */
export function readLaunchFile(path: string): AgentLaunch | undefined {
  try {
    const launch = JSON.parse(Deno.readTextFileSync(path));
    return launch?.statusFile ? launch as AgentLaunch : undefined;
  } catch {
    return undefined;
  }
}

function agentArgv(launch: AgentLaunch, arg = JSON.stringify(launch)): string[] {
  const config = REPO_CONFIG.protocol === "file:" && exists(REPO_CONFIG)
    ? ["--config", REPO_CONFIG.pathname]
    : [];
  return ["run", "-A", "--no-prompt", ...config, AGENT_MAIN.href, arg];
}

function writeLaunchFile(launch: AgentLaunch): string {
  const file = agentLaunchFile(launch.statusFile);
  Deno.writeTextFileSync(`${file}.tmp`, JSON.stringify(launch), { mode: 0o600 });
  Deno.renameSync(`${file}.tmp`, file);
  return file;
}

function exists(url: URL): boolean {
  try {
    return Deno.statSync(url).isFile;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts an agent for `launch` and waits until it reports ready; returns the
 * identity to record. Throws {@linkcode AgentStartError} (with the agent's
 * own error text when it reported one) and kills a half-started agent.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function start(): Promise<void> {
 *   const id = await startAgent({ kind: "path_manager", name: "client", netns: "/run/netns/c",
 *     statusFile: "/run/sockform/client.agent.json", params: { builtin: "ndiffports", subflows: 3 } });
 * }
 * ```
 */
export async function startAgent(
  launch: AgentLaunch,
  timeoutMs = AGENT_READY_TIMEOUT_MS,
): Promise<AgentIdentity> {
  try {
    Deno.removeSync(launch.statusFile);
  } catch { /* none yet */ }
  const launchFile = writeLaunchFile(launch);
  const child = programCommand([Deno.execPath(), ...agentArgv(launch, `@${launchFile}`)], {
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.unref();
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = readAgentStatus(launch.statusFile);
    if (status?.pid === child.pid && status.state === "failed") {
      throw new AgentStartError(`agent ${launch.name} failed to start: ${status.error}`);
    }
    if (status?.pid === child.pid && status.state === "ready") {
      const { pid, startTime, version, paramsHash } = status;
      return { pid, startTime, version, paramsHash, statusFile: launch.statusFile };
    }
    if (exited) throw new AgentStartError(`agent ${launch.name} exited before it was ready`);
    await sleep(50);
  }
  const start = readProcStat(child.pid)?.startTime;
  if (start !== undefined) await stopAgent({ pid: child.pid, startTime: start });
  throw new AgentStartError(`agent ${launch.name} not ready within ${timeoutMs} ms`);
}

/** An agent's health as `plan` reads it. */
export type AgentHealth =
  | { state: "running" }
  | { state: "dead" | "failed" | "stuck" | "outdated"; reason: string };

/**
 * Reads an agent's health from `/proc` and its status file, against the launch
 * the stack wants now.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { AgentIdentity, AgentLaunch } from "./identity.ts";
 *
 * async function drift(recorded: AgentIdentity, desiredLaunch: AgentLaunch): Promise<void> {
 *   const h = await agentHealth(recorded, desiredLaunch);
 *   if (h.state !== "running") console.log(`drift: agent ${h.state}: ${h.reason}`);
 * }
 * ```
 */
export async function agentHealth(
  identity: AgentIdentity,
  desired: AgentLaunch,
  stuckAfterMs = AGENT_STUCK_AFTER_MS,
): Promise<AgentHealth> {
  if (!processAlive(identity.pid, identity.startTime)) {
    return { state: "dead", reason: `pid ${identity.pid} (start ${identity.startTime}) is gone` };
  }
  const status = readAgentStatus(identity.statusFile);
  const mine = status?.pid === identity.pid && status.startTime === identity.startTime;
  if (mine && status.state === "failed") return { state: "failed", reason: status.error ?? "" };
  const heartbeatAge = mine ? Date.now() - status.heartbeatAt : Infinity;
  if (heartbeatAge > stuckAfterMs) {
    return { state: "stuck", reason: `no heartbeat for ${Math.round(heartbeatAge / 1000)} s` };
  }
  const want = await launchHash(desired);
  const version = mine ? status.version : identity.version;
  const hash = mine ? status.paramsHash : identity.paramsHash;
  if (version !== AGENT_VERSION) {
    return { state: "outdated", reason: `runs ${version}, want ${AGENT_VERSION}` };
  }
  if (hash !== want) return { state: "outdated", reason: "runs other params" };
  return { state: "running" };
}

async function waitGone(pid: number, startTime: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (processAlive(pid, startTime)) {
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
  return true;
}

function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch { /* gone meanwhile */ }
}

/**
 * Stops the agent: SIGTERM, up to `graceMs` for it to exit, then SIGKILL and
 * up to `graceMs` more. A pid whose start time differs is not touched.
 * Removes the status file when given. Returns how it ended.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { AgentIdentity, AgentLaunch } from "./identity.ts";
 *
 * async function stop(recorded: AgentIdentity) {
 *   return await stopAgent(recorded); // "terminated" | "killed" | "absent"
 * }
 * ```
 */
export async function stopAgent(
  identity: Pick<AgentIdentity, "pid" | "startTime"> & { statusFile?: string },
  graceMs = 3000,
): Promise<"terminated" | "killed" | "absent"> {
  const { pid, startTime } = identity;
  let outcome: "terminated" | "killed" | "absent" = "absent";
  if (processAlive(pid, startTime)) {
    signal(pid, "SIGTERM");
    outcome = "terminated";
    if (!await waitGone(pid, startTime, graceMs)) {
      signal(pid, "SIGKILL");
      outcome = "killed";
      if (!await waitGone(pid, startTime, graceMs)) {
        throw new Error(`agent pid ${pid} survived SIGKILL for ${graceMs} ms`);
      }
    }
  }
  if (identity.statusFile) {
    for (const file of [identity.statusFile, agentLaunchFile(identity.statusFile)]) {
      try {
        Deno.removeSync(file);
      } catch { /* already gone */ }
    }
  }
  return outcome;
}

/**
 * Gives a running agent new params without a restart: rewrites its launch
 * file, sends SIGHUP, and waits (bounded) until its status reports the new
 * launch's hash. Returns the identity with that hash, or null when the agent
 * did not take it in time (it refused: more than params changed, or it was
 * not started with a launch file); the caller then restarts it.
 *
 * @example Reload, else restart
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { AgentIdentity, AgentLaunch } from "./identity.ts";
 *
 * async function threeSubflows(
 *   recorded: AgentIdentity,
 *   launch: AgentLaunch,
 *   restart: () => Promise<AgentIdentity>,
 * ): Promise<AgentIdentity> {
 *   return await reloadAgent(recorded, { ...launch, params: { subflows: 3 } }) ?? await restart();
 * }
 * ```
 */
export async function reloadAgent(
  identity: AgentIdentity,
  launch: AgentLaunch,
  timeoutMs = 5000,
): Promise<AgentIdentity | null> {
  if (!processAlive(identity.pid, identity.startTime)) return null;
  writeLaunchFile(launch);
  const want = await launchHash(launch);
  signal(identity.pid, "SIGHUP");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = readAgentStatus(launch.statusFile);
    if (status?.pid === identity.pid && status.paramsHash === want) {
      return { ...identity, paramsHash: want, statusFile: launch.statusFile };
    }
    await sleep(50);
  }
  return null;
}
