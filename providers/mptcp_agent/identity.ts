/**
 * Who an agent process is, read from the kernel: a pid is reused, so an
 * agent is identified by its pid and its start time (field 22 of
 * `/proc/PID/stat`, clock ticks since boot), which together never repeat.
 * Also the launch description every agent kind shares, and the hash that
 * says which version and params an agent runs.
 *
 * @module
 */

/** Bumped when the agent's behaviour changes, so running agents read as outdated. */
export const AGENT_VERSION = "mptcp-agent/1";

/** Which resource kind an agent serves. */
export type AgentKind = "path_manager" | "scheduler";

/** Everything an agent process is started with (passed to it as JSON). */
export interface AgentLaunch {
  /** Which kind of resource it serves. */
  kind: AgentKind;
  /** The resource's name, for logs and the status file. */
  name: string;
  /** Netns path the agent listens in; undefined: the spawner's. */
  netns?: string;
  /** Where the agent writes its status (identity, counters, heartbeat). */
  statusFile: string;
  /** The kind's params (policy and its params, roles …); JSON only. */
  params: unknown;
  /** The event socket's `SO_RCVBUFFORCE`; default 8 MB. */
  receiveBufferBytes?: number;
}

/** A running agent as recorded with its resource's metadata. */
export interface AgentIdentity {
  /** The agent's process id. */
  pid: number;
  /** `/proc/PID/stat` field 22. */
  startTime: number;
  /** The {@linkcode AGENT_VERSION} the agent runs. */
  version: string;
  /** {@linkcode launchHash} of the launch the agent runs, as the agent reported it. */
  paramsHash: string;
  /** Where the agent writes its status (identity, counters, heartbeat). */
  statusFile: string;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, canonical(v)]));
  }
  return value;
}

/**
 * The hash of what an agent does: the agent version, its kind, netns,
 * receive buffer and params (key order does not matter). The status file's
 * path is not part of it.
 *
 * @example Same params, same hash
 * ```ts
 * const a = await launchHash({ kind: "path_manager", name: "c", statusFile: "/x", params: { n: 3 } });
 * ```
 */
export async function launchHash(launch: AgentLaunch): Promise<string> {
  const { kind, netns, params, receiveBufferBytes } = launch;
  const text = JSON.stringify(
    canonical({ version: AGENT_VERSION, kind, netns, params, receiveBufferBytes }),
  );
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** What `/proc/PID/stat` says about a process. */
export interface ProcStat {
  /** Field 3: R, S, D, Z (zombie), X (dead), T … */
  state: string;
  /** Field 22. */
  startTime: number;
}

/**
 * Parses `/proc/PID/stat`. The command name (field 2) may hold spaces and
 * parentheses, so fields are counted after its last `)`. Pure; exported for tests.
 *
 * @example
 * ```ts
 * parseProcStat("42 (deno (x)) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 777 0")?.startTime; // 777
 * ```
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).trim().split(/\s+/);
  // fields[0] is field 3 (state), so field 22 is fields[19].
  const startTime = Number(fields[19]);
  if (!fields[0] || !Number.isFinite(startTime)) return undefined;
  return { state: fields[0], startTime };
}

/**
 * `/proc/PID/stat` of a process, or undefined when there is none.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function myStartTime(): number | undefined {
 *   return readProcStat(Deno.pid)?.startTime;
 * }
 * ```
 */
export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return undefined;
  }
}

/**
 * Whether the process `pid` that started at `startTime` still runs: it exists,
 * has the same start time (not a reused pid), and is not a zombie.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { AgentIdentity } from "../../mod.ts";
 *
 * function stillRunning(identity: AgentIdentity): boolean {
 *   return processAlive(identity.pid, identity.startTime);
 * }
 * ```
 */
export function processAlive(pid: number, startTime: number): boolean {
  const stat = readProcStat(pid);
  return !!stat && stat.startTime === startTime && stat.state !== "Z" && stat.state !== "X";
}
