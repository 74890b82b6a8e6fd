/**
 * `sockform agent`: the reconcile loop as a long-running process, with its
 * status file and (with `--metrics-listen`) a Prometheus endpoint; and
 * `sockform metrics`, the same text printed once for node-exporter's textfile
 * collector. SIGHUP runs a loop now; SIGTERM and SIGINT let the current loop
 * finish, then exit 0 and leave the kernel as it is (the kernel is the state).
 *
 * @module
 */
import { kernelStore } from "../providers/state/kernel_store.ts";
import { UserError } from "../engine/errors.ts";
import { parseDuration } from "./duration.ts";
import { describeSource, type SourceSpec } from "../ops/source.ts";
import { reconcileOnce, type ReconcileOptions } from "../ops/reconcile.ts";
import { RESTART_EXIT_CODE } from "../ops/imports_watch.ts";
import {
  newStatus,
  readStatus,
  type ReconcileStatus,
  writeStatus,
} from "../ops/reconcile_status.ts";
import { metricsText } from "../ops/metrics.ts";
import { PROM_CONTENT_TYPE } from "../ops/prom_text.ts";
import type { StateStore } from "../engine/store.ts";

/** Where the agent writes its status unless `--status-file` says otherwise. */
export const DEFAULT_STATUS_FILE = "/run/sockform/reconcile/status.json";
/** Where git sources are cached unless `--cache-dir` says otherwise. */
export const DEFAULT_CACHE_DIR = "/var/cache/sockform/git";

/** The agent's options as commander parses them. */
export interface AgentFlags {
  stack?: string;
  git?: string;
  ref: string;
  path: string;
  interval: string;
  mode: string;
  requireHitless?: boolean;
  statusFile: string;
  metricsListen?: string;
  lockTimeout: string;
  cacheDir: string;
}

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

function sourceOf(f: AgentFlags): SourceSpec {
  if (Boolean(f.stack) === Boolean(f.git)) {
    throw new UserError("agent needs exactly one source: --stack FILE or --git URL");
  }
  if (f.stack) return { type: "file", path: absolute(f.stack) };
  return { type: "git", url: f.git!, ref: f.ref, path: f.path, cacheDir: absolute(f.cacheDir) };
}

function listenAddress(text: string): { hostname: string; port: number } {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(text);
  if (!m) throw new UserError(`--metrics-listen: "${text}" is not HOST:PORT`);
  return { hostname: m[1] || "0.0.0.0", port: Number(m[2]) };
}

function serveMetrics(
  listen: string,
  store: StateStore,
  status: ReconcileStatus,
  healthy: () => boolean,
) {
  return Deno.serve({ ...listenAddress(listen), onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (req.method !== "GET") return new Response("method not allowed\n", { status: 405 });
    if (path === "/healthz") {
      return healthy()
        ? new Response("ok\n")
        : new Response("no reconcile loop within 3 intervals\n", { status: 503 });
    }
    if (path !== "/metrics") return new Response("not found\n", { status: 404 });
    const text = await metricsText(store, status);
    return new Response(text, { headers: { "content-type": PROM_CONTENT_TYPE } });
  });
}

function logLoop(s: ReconcileStatus): void {
  const err = s.lastResult === "error" ? `: ${s.lastError?.message.split("\n")[0]}` : "";
  const changes = s.lastPlan ? ` (${s.lastPlan.changes} change(s), ${s.lastPlan.drift} drift)` : "";
  console.error(`loop ${s.loops} commit ${s.commit ?? "-"}: ${s.lastResult}${changes}${err}`);
}

/**
 * Sleeps `ms` unless woken (SIGHUP, SIGTERM) first. A wake while no one
 * sleeps (a SIGHUP during a loop) makes the next sleep return at once.
 */
function waiter() {
  let wake: (() => void) | undefined;
  let pending = false;
  return {
    sleep(ms: number) {
      if (pending) {
        pending = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        }
        wake = done;
      });
    },
    wake: () => wake ? wake() : void (pending = true),
  };
}

function agentOptions(f: AgentFlags, stateRoot: string | undefined) {
  if (f.mode !== "apply" && f.mode !== "report") {
    throw new UserError(`--mode: "${f.mode}" is not apply or report`);
  }
  const intervalMs = parseDuration(f.interval);
  if (intervalMs <= 0) throw new UserError("--interval must be more than 0s");
  const opts: ReconcileOptions = {
    source: sourceOf(f),
    store: kernelStore(stateRoot),
    mode: f.mode,
    requireHitless: Boolean(f.requireHitless),
    lockTimeoutMs: parseDuration(f.lockTimeout),
  };
  return { opts, intervalMs };
}

/** SIGHUP wakes the loop; SIGTERM and SIGINT stop it after the current loop. */
function listenSignals(w: ReturnType<typeof waiter>) {
  let stopping = false;
  const stop = () => {
    stopping = true;
    w.wake();
  };
  const signals = [["SIGHUP", w.wake], ["SIGTERM", stop], ["SIGINT", stop]] as const;
  for (const [sig, fn] of signals) Deno.addSignalListener(sig, fn);
  return {
    stopping: () => stopping,
    remove: () => {
      for (const [sig, fn] of signals) Deno.removeSignalListener(sig, fn);
    },
  };
}

/**
 * Runs the reconcile loop until SIGTERM or SIGINT; returns the exit code: 0, or 75 when a module
 * the stack file imports changed (ops/imports_watch.ts) and the agent must be restarted.
 *
 * @example Follow a local stack file every 30 s
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function follow(): Promise<number> {
 *   return await runAgent({ stack: "stack.ts", ref: "HEAD", path: "stack.ts", interval: "30s", mode: "apply",
 *     statusFile: DEFAULT_STATUS_FILE, lockTimeout: "5s", cacheDir: DEFAULT_CACHE_DIR }, undefined);
 * }
 * ```
 */
export async function runAgent(f: AgentFlags, stateRoot: string | undefined): Promise<number> {
  const { opts, intervalMs } = agentOptions(f, stateRoot);
  const status = newStatus(describeSource(opts.source), opts.mode, opts.requireHitless);
  let lastLoopEnd = Date.now();
  const healthy = () => Date.now() - lastLoopEnd <= 3 * intervalMs;
  const server = f.metricsListen
    ? serveMetrics(f.metricsListen, opts.store, status, healthy)
    : undefined;
  const w = waiter();
  const signals = listenSignals(w);
  try {
    while (!signals.stopping()) {
      await reconcileOnce(opts, status);
      lastLoopEnd = Date.now();
      writeStatus(f.statusFile, status);
      logLoop(status);
      if (status.restartNeeded?.length) return RESTART_EXIT_CODE;
      if (!signals.stopping()) await w.sleep(intervalMs);
    }
  } finally {
    signals.remove();
    await server?.shutdown();
  }
  return 0;
}

/**
 * `sockform metrics`: the metrics text once, from the kernel and (when the
 * agent has written one) the status file.
 *
 * @example Once, for node-exporter's textfile collector
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function metrics(): Promise<number> {
 *   return await printMetrics(DEFAULT_STATUS_FILE, "/sys/fs/bpf/sockform");
 * }
 * ```
 */
export async function printMetrics(statusFile: string, stateRoot?: string): Promise<number> {
  const text = await metricsText(kernelStore(stateRoot), readStatus(statusFile));
  await Deno.stdout.write(new TextEncoder().encode(text));
  return 0;
}
