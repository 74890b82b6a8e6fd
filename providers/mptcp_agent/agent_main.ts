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
 * {@linkcode startAgent} does), the agent re-reads that file on SIGHUP. When
 * only the params changed (same kind, netns and receive buffer) it builds
 * the handler for them, and between two signals swaps it in, hands it a
 * fresh snapshot (so live connections get the new policy too), closes the
 * old one and reports the new hash in its status file. Anything else it
 * refuses (the status keeps the old hash), which reads as outdated and
 * `apply` restarts it.
 *
 * **Waiting.** The process's main thread does nothing but serve, so it waits
 * for events in a synchronous `poll(2)` (`blockingWait`), in slices of at most
 * 100 ms between which it yields to the event loop for signals and reloads:
 * an event is decoded, handed to the policy and answered on the thread the
 * kernel woke. An embedding program keeps the default, an awaited poll that
 * leaves its event loop free.
 *
 * @module
 */
import { type AgentSignal, MptcpAgentCore } from "./core.ts";
import { AGENT_VERSION, type AgentLaunch, launchHash, readProcStat } from "./identity.ts";
import { agentLogPath, type AgentStatus, fileLogger, writeAgentStatus } from "./status.ts";
import { pathManagerHandler } from "./path_manager_agent.ts";
import { schedulerHandler } from "./roles.ts";
import { readLaunchFile } from "./process.ts";
import { takeSnapshot } from "./snapshot.ts";

/** What a kind (PathManager policy, Scheduler roles) does with each signal. */
export interface AgentHandler {
  handle(signal: AgentSignal, core: MptcpAgentCore): void | Promise<void>;
  /**
   * Called about once a second between signals (timers, stale state), or
   * every `tickMs`, with {@linkcode MptcpAgentCore.caughtUpAt}: answers the
   * kernel sent before then were read.
   */
  tick?(caughtUpAt: number): void | Promise<void>;
  /** How often `tick` wants to be called, when not about once a second (e.g. a failover rule's sampling). */
  readonly tickMs?: number;
  /** The handler's own counters, written to the status file as `handlerCounters`. */
  counters?(): unknown;
  /** Releases what a reloaded handler holds once another replaced it. */
  close?(): void;
}

const STATUS_EVERY_MS = 1000;
/** In blocking mode, the longest the event loop waits (a signal's delay at most). */
const YIELD_EVERY_MS = 100;

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
  /** Where handler errors go (the agent process: its log file). Default `console.error`. */
  log?: (message: string) => void;
  /** The launch file SIGHUP re-reads; without it a SIGHUP is refused. */
  launchFile?: string;
  /** Builds the handler of a reloaded launch (the same kind's, new params). */
  handlerFor?: (launch: AgentLaunch) => Promise<AgentHandler | undefined>;
  /**
   * Wait for events in a synchronous `poll(2)` on this thread, yielding to
   * the event loop about every 100 ms (signals, reloads). For the agent
   * process, whose main thread does nothing else: an event is then handled
   * on the thread the kernel wakes. Default false (an embedding program's
   * event loop keeps running).
   */
  blockingWait?: boolean;
}

/** What the loop serves, and a reload waiting for the next gap between signals. */
interface Serving {
  launch: AgentLaunch;
  handler?: AgentHandler;
  next?: { launch: AgentLaunch; handler?: AgentHandler };
  /** A reload is being built (it imports a module): wait without blocking meanwhile. */
  preparing?: boolean;
}

/** Whether `next` only changes the params of `current` (what a reload may change). */
function paramsOnly(current: AgentLaunch, next: AgentLaunch): boolean {
  return next.kind === current.kind && next.netns === current.netns &&
    next.receiveBufferBytes === current.receiveBufferBytes &&
    next.statusFile === current.statusFile;
}

/** SIGHUP: builds the handler of the launch file's params, for the loop to swap in. */
async function prepareReload(serving: Serving, options: ServeOptions, log: (m: string) => void) {
  const next = options.launchFile ? readLaunchFile(options.launchFile) : undefined;
  if (!next || !paramsOnly(serving.launch, next)) {
    log("agent reload refused: no launch file, or more than the params changed");
    return;
  }
  serving.preparing = true;
  try {
    const handler = await options.handlerFor?.(next);
    serving.next?.handler?.close?.(); // a reload not swapped in yet is superseded
    serving.next = { launch: next, handler };
  } catch (err) {
    log(`agent reload refused: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    serving.preparing = false;
  }
}

/** Between two signals: the reloaded handler takes over, starting from a snapshot. */
async function swapIn(serving: Serving, status: AgentStatus, core: MptcpAgentCore) {
  const next = serving.next;
  if (!next) return;
  serving.next = undefined;
  const old = serving.handler;
  serving.handler = next.handler;
  serving.launch = next.launch;
  old?.close?.();
  status.paramsHash = await launchHash(next.launch);
  const snapshot = takeSnapshot(next.launch.netns);
  await next.handler?.handle({ kind: "resync", reason: "start", snapshot }, core);
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
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { AgentLaunch } from "./identity.ts";
 *
 * async function logEvents(launch: AgentLaunch): Promise<void> {
 *   await serveAgent(launch, { handle: (s) => console.log(s.kind) });
 * }
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
  const log = options.log ?? console.error;
  const serving: Serving = { launch, handler };
  const reload = () => void prepareReload(serving, options, log);
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
      handlerCounters: serving.handler?.counters?.(),
      heartbeatAt: Date.now(),
    });
  try {
    const swap = () => swapIn(serving, status, core);
    await loop(core, serving, write, log, swap, options.blockingWait ?? false);
    write("stopped");
  } catch (err) {
    write("failed", err instanceof Error ? err.message : String(err));
    throw err;
  } finally {
    Deno.removeSignalListener("SIGTERM", stop);
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGHUP", reload);
    options.signal?.removeEventListener("abort", stop);
    if (serving.handler !== handler) serving.handler?.close?.();
    serving.next?.handler?.close?.();
    await core.close();
  }
}

async function loop(
  core: MptcpAgentCore,
  serving: Serving,
  write: (state: AgentStatus["state"]) => void,
  log: (message: string) => void,
  swap: () => Promise<void>,
  blocking: boolean,
): Promise<void> {
  write("ready");
  let lastWrite = Date.now();
  let lastTick = lastWrite;
  let lastYield = lastWrite;
  for (;;) {
    const tickEvery = serving.handler?.tickMs ?? STATUS_EVERY_MS;
    const wait = Math.min(STATUS_EVERY_MS, tickEvery);
    const signal = blocking && !serving.preparing
      ? core.nextBlocking(Math.min(YIELD_EVERY_MS, wait))
      : await core.next(wait);
    if (signal) await handleSafely(() => serving.handler?.handle(signal, core), core, log);
    else if (core.closed) return;
    if (serving.next) await handleSafely(swap, core, log), write("ready");
    if (Date.now() - lastTick >= tickEvery) {
      await handleSafely(() => serving.handler?.tick?.(core.caughtUpAt), core, log);
      lastTick = Date.now();
    }
    if (Date.now() - lastWrite >= STATUS_EVERY_MS) write("ready"), lastWrite = Date.now();
    if (blocking && Date.now() - lastYield >= YIELD_EVERY_MS) {
      // A macrotask turn: signal listeners (SIGTERM, SIGHUP) and a reload's imports run here.
      await new Promise((resolve) => setTimeout(resolve, 0));
      lastYield = Date.now();
    }
  }
}

const lastHandlerError = new WeakMap<MptcpAgentCore, string>();

async function handleSafely(
  call: () => void | Promise<void>,
  core: MptcpAgentCore,
  log: (message: string) => void,
): Promise<void> {
  try {
    await call();
  } catch (err) {
    core.counters.handlerErrors++;
    const message = err instanceof Error ? err.message : String(err);
    lastHandlerError.set(core, message);
    log(`agent handler: ${message}`);
  }
}

/** The handler of a launch's kind (undefined: a kind that only observes). */
async function kindHandler(launch: AgentLaunch, log: (message: string) => void) {
  if (launch.kind === "path_manager") return await pathManagerHandler(launch, log);
  if (launch.kind === "scheduler") return schedulerHandler(launch, log);
  return undefined;
}

/**
 * The agent process's body: builds the kind's handler from the launch (a
 * `path_manager` loads `params.policy`, a `scheduler` serves its roles), logs to the file next to the
 * status file, and serves. A handler that cannot be built (a policy module
 * missing or not exporting the API) is written as state `failed` with its
 * message, which {@linkcode startAgent} reports.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { AgentLaunch } from "./identity.ts";
 *
 * async function run(launch: AgentLaunch): Promise<void> {
 *   await runAgent(launch);
 * }
 * ```
 */
export async function runAgent(launch: AgentLaunch, options: ServeOptions = {}): Promise<void> {
  const log = options.log ?? fileLogger(agentLogPath(launch.statusFile));
  let made: Awaited<ReturnType<typeof kindHandler>>;
  try {
    made = await kindHandler(launch, log);
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    log(`agent ${launch.name} failed to start: ${error}`);
    writeAgentStatus(launch.statusFile, { ...await baseStatus(launch), state: "failed", error });
    throw err;
  }
  const handlerFor = async (next: AgentLaunch): Promise<AgentHandler | undefined> => {
    const built = await kindHandler(next, log);
    if (!built) return undefined;
    const { handler, close } = built;
    return {
      handle: (signal) => handler.handle(signal),
      tick: (caughtUpAt) => handler.tick(caughtUpAt),
      tickMs: "tickMs" in handler ? handler.tickMs : undefined,
      counters: () => handler.counters(),
      close, // when a later reload replaces it, or at exit
    };
  };
  try {
    await serveAgent(launch, made?.handler, { handlerFor, ...options, log });
  } finally {
    made?.close();
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
  await runAgent(launch, { launchFile, blockingWait: true });
}
