/**
 * The agent's status file: the identity it reports (pid, start time, version,
 * params hash), its state, counters and a heartbeat. The agent rewrites it
 * atomically (write to a temporary file, then rename) at most once a second
 * while it runs; readers never see a half-written file.
 *
 * @module
 */
import type { AgentCounters } from "./counters.ts";

/** What the agent writes. */
export interface AgentStatus {
  pid: number;
  startTime: number;
  version: string;
  paramsHash: string;
  kind: string;
  name: string;
  netns?: string;
  /** `ready` once subscribed and serving; `failed` with `error` when it could not start. */
  state: "ready" | "failed" | "stopped";
  error?: string;
  counters?: AgentCounters;
  /** The message of the last signal the kind's handler threw on. */
  lastHandlerError?: string;
  /** The handler's own counters (the policy runner's actions and errors). */
  handlerCounters?: unknown;
  /** `Date.now()` of the last write: a stuck agent stops moving it. */
  heartbeatAt: number;
}

/**
 * Writes `status` to `path` atomically (0600).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function publish(status: AgentStatus): void {
 *   writeAgentStatus("/run/sockform/agent-client.json", status);
 * }
 * ```
 */
export function writeAgentStatus(path: string, status: AgentStatus): void {
  const tmp = `${path}.${status.pid}.tmp`;
  Deno.writeTextFileSync(tmp, JSON.stringify(status), { mode: 0o600 });
  Deno.renameSync(tmp, path);
}

/**
 * Reads a status file; undefined when it does not exist or is not a status.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { AgentIdentity } from "./identity.ts";
 *
 * function showOverflows(identity: AgentIdentity): void {
 *   const s = readAgentStatus(identity.statusFile);
 *   console.log(s?.counters?.overflows);
 * }
 * ```
 */
export function readAgentStatus(path: string): AgentStatus | undefined {
  try {
    const parsed = JSON.parse(Deno.readTextFileSync(path));
    return typeof parsed?.pid === "number" && typeof parsed?.paramsHash === "string"
      ? parsed as AgentStatus
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The agent's log file, next to its status file (`x.json` → `x.log`).
 *
 * @example
 * ```ts
 * agentLogPath("/run/sockform/client.agent.json"); // "/run/sockform/client.agent.log"
 * ```
 */
export function agentLogPath(statusFile: string): string {
  return `${statusFile.replace(/\.json$/, "")}.log`;
}

/**
 * A logger appending timestamped lines to `path` (errors writing are ignored: logging must not stop the agent).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { AgentLaunch } from "./identity.ts";
 *
 * function logTo(launch: AgentLaunch): void {
 *   const log = fileLogger(agentLogPath(launch.statusFile));
 *   log("policy threw");
 * }
 * ```
 */
export function fileLogger(path: string): (message: string) => void {
  return (message) => {
    try {
      Deno.writeTextFileSync(path, `${new Date().toISOString()} ${message}\n`, { append: true });
    } catch { /* the log is best effort */ }
  };
}
