/**
 * The agent process: `deno run -A agent_main.ts '<AgentLaunch JSON>'`, started
 * detached by {@linkcode startAgent}. It subscribes to its netns's MPTCP
 * events through the core, hands every signal to the kind's handler, and
 * keeps its status file (identity, counters, heartbeat) current. SIGTERM or
 * SIGINT stops it cleanly.
 *
 * The kinds plug in through {@linkcode AgentHandler}; with none given the
 * agent observes and counts (what `show` reads).
 *
 * **Reload.** Started as `agent_main.ts @/path/launch.json` (what
 * {@linkcode startAgent} does), the agent re-reads that file on SIGHUP and,
 * when only the params changed (same kind, netns and receive buffer), keeps
 * its event socket, takes the new params (a new handler from
 * `ServeOptions.handlerFor`) and reports their hash in its status file.
 * Anything else it refuses (the status keeps the old hash), which reads as
 * outdated and `apply` restarts it.
 *
 * @module
 */
import { type AgentSignal, MptcpAgentCore } from "./core.ts";
import { AGENT_VERSION, type AgentLaunch, launchHash, readProcStat } from "./identity.ts";
import { type AgentStatus, writeAgentStatus } from "./status.ts";
import { readLaunchFile } from "./process.ts";

/** What a kind (PathManager policy, Scheduler roles) does with each signal. */
export interface AgentHandler {
  handle(signal: AgentSignal, core: MptcpAgentCore): void | Promise<void>;
}

const STATUS_EVERY_MS = 1000;

async function baseStatus(launch: AgentLaunch): Promise<AgentStatus> {
  return {
    pid: Deno.pid,
    startTime: readProcStat(Deno.pid)?.startTime ?? 0,
    version: AGENT_VERSION,
    paramsHash: await launchHash(launch),
    kind: launch.kind,
    name: launch.name,
    netns: launch.netns,
    state: "ready",
    heartbeatAt: Date.now(),
  };
}

function openCore(launch: AgentLaunch, status: AgentStatus): MptcpAgentCore {
  try {
    return MptcpAgentCore.open({
      netns: launch.netns,
      receiveBufferBytes: launch.receiveBufferBytes,
    });
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    writeAgentStatus(launch.statusFile, { ...status, state: "failed", error });
    throw err;
  }
}

/** Options of {@linkcode serveAgent}. */
export interface ServeOptions {
  /** Stops serving when aborted, as SIGTERM / SIGINT do. */
  signal?: AbortSignal;
  /** The launch file SIGHUP re-reads; without it a SIGHUP is refused. */
  launchFile?: string;
  /** The handler for a reloaded launch (the same kind's, new params). */
  handlerFor?: (launch: AgentLaunch) => AgentHandler | undefined;
}

/** Whether `next` only changes the params of `current` (what a reload may change). */
function paramsOnly(current: AgentLaunch, next: AgentLaunch): boolean {
  return next.kind === current.kind && next.netns === current.netns &&
    next.receiveBufferBytes === current.receiveBufferBytes &&
    next.statusFile === current.statusFile;
}

/**
 * Runs the agent loop until SIGTERM / SIGINT (or `options.signal`):
 * subscribe, report ready, hand each signal to `handler`, refresh the status
 * file about once a second. A handler that throws is counted in
 * `handlerErrors` (its message kept as `lastHandlerError`) and serving goes
 * on. An error of the core itself is written as state `failed` and ends the
 * agent: a dead agent is drift, and `apply` starts a new one.
 *
 * @example The body of a kind's agent entry point
 * ```ts
 * await serveAgent(launch, { handle: (s) => console.log(s.kind) });
 * ```
 */
export async function serveAgent(
  launch: AgentLaunch,
  handler?: AgentHandler,
  options: ServeOptions = {},
): Promise<void> {
  const status = await baseStatus(launch);
  const core = openCore(launch, status);
  const stop = () => void core.close();
  const serving = { launch, handler };
  const reload = () => void reloadLaunch(serving, status, options).then(() => write("ready"));
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGHUP", reload); // without a launch file: refused, not killed
  options.signal?.addEventListener("abort", stop);
  const write = (state: AgentStatus["state"], error?: string) =>
    writeAgentStatus(launch.statusFile, {
      ...status,
      state,
      error,
      counters: core.counters,
      lastHandlerError: lastHandlerError.get(core),
      heartbeatAt: Date.now(),
    });
  try {
    await loop(core, serving, write);
    write("stopped");
  } catch (err) {
    write("failed", err instanceof Error ? err.message : String(err));
    throw err;
  } finally {
    Deno.removeSignalListener("SIGTERM", stop);
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGHUP", reload);
    options.signal?.removeEventListener("abort", stop);
    await core.close();
  }
}

/** SIGHUP: takes the launch file's params when only they changed. */
async function reloadLaunch(
  serving: { launch: AgentLaunch; handler?: AgentHandler },
  status: AgentStatus,
  options: ServeOptions,
): Promise<void> {
  const next = options.launchFile ? readLaunchFile(options.launchFile) : undefined;
  if (!next || !paramsOnly(serving.launch, next)) {
    console.error("agent reload refused: unreadable launch file or more than params changed");
    return;
  }
  serving.handler = options.handlerFor ? options.handlerFor(next) : serving.handler;
  serving.launch = next;
  status.paramsHash = await launchHash(next);
}

async function loop(
  core: MptcpAgentCore,
  serving: { handler?: AgentHandler },
  write: (state: AgentStatus["state"]) => void,
): Promise<void> {
  write("ready");
  let lastWrite = Date.now();
  for (;;) {
    const signal = await core.next(STATUS_EVERY_MS);
    if (signal) await handleSafely(serving.handler, signal, core);
    else if (core.closed) return;
    if (Date.now() - lastWrite >= STATUS_EVERY_MS) write("ready"), lastWrite = Date.now();
  }
}

const lastHandlerError = new WeakMap<MptcpAgentCore, string>();

async function handleSafely(
  handler: AgentHandler | undefined,
  signal: AgentSignal,
  core: MptcpAgentCore,
): Promise<void> {
  try {
    await handler?.handle(signal, core);
  } catch (err) {
    core.counters.handlerErrors++;
    const message = err instanceof Error ? err.message : String(err);
    lastHandlerError.set(core, message);
    console.error(`agent handler: ${message}`);
  }
}

if (import.meta.main) {
  const arg = Deno.args[0] ?? "null";
  const launchFile = arg.startsWith("@") ? arg.slice(1) : undefined;
  const launch = launchFile ? readLaunchFile(launchFile) : JSON.parse(arg) as AgentLaunch | null;
  if (!launch?.statusFile) {
    console.error("usage: agent_main.ts '<AgentLaunch JSON>' | @<launch file>");
    Deno.exit(2);
  }
  await serveAgent(launch, undefined, { launchFile });
}
