/**
 * The small kit every benchmark shares: the `Benchmark` shape `bench/run.ts`
 * runs, medians and spreads, timing a subprocess, and a plain-text table.
 *
 * Benchmarks report; they never assert timings. Each one measures its
 * candidates side by side in one run (interleaved where drift matters) and
 * prints medians plus the ratios between them.
 *
 * @module
 */
import type { CleanupStack } from "../lab/netns_kit.ts";
import { programCommand } from "../providers/system/programs.ts";

/** What a benchmark gets from the runner. */
export interface BenchContext {
  /** Undo actions; the runner runs them after the benchmark, on failure and on Ctrl-C. */
  cleanup: CleanupStack;
  /** The project root (where main.ts lives), for subprocesses. */
  projectRoot: string;
}

/**
 * One benchmark file's export, registered in `bench/run.ts`.
 *
 * @example A benchmark module
 * ```ts
 * export const benchmark: Benchmark = {
 *   name: "noop",
 *   summary: "does nothing, quickly",
 *   run: async (ctx) => console.log(formatTable([["a", "b"]])),
 * };
 * ```
 */
export interface Benchmark {
  /** What `--only` matches, e.g. `slr_noop_plan`. */
  name: string;
  /** One line for `--list`. */
  summary: string;
  run(ctx: BenchContext): Promise<void>;
}

/** Median, spread and count of a sample. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

/**
 * The median (mean of the middle two for an even count), min, max and n.
 *
 * @example
 * ```ts
 * summarize([3, 1, 2]); // { median: 2, min: 1, max: 3, n: 3 }
 * ```
 */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error("summarize: no samples");
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1], n: s.length };
}

/** Result of one timed subprocess. */
export interface TimedRun {
  seconds: number;
  code: number;
  stdout: string;
  stderr: string;
  /** True when `timeoutMs` ran out and the process was killed. */
  timedOut: boolean;
}

/** Where and how long a subprocess runs. */
export interface CommandOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Kill the process (SIGTERM, through an AbortSignal) after this long. */
  timeoutMs?: number;
}

/**
 * Runs `argv` to completion and measures its wall time, spawn included.
 *
 * @example
 * ```ts
 * const r = await timeCommand(["deno", "--version"]);
 * console.log(r.seconds, r.code);
 * ```
 */
export async function timeCommand(
  argv: readonly string[],
  opts: CommandOptions = {},
): Promise<TimedRun> {
  const abort = new AbortController();
  const timer = opts.timeoutMs === undefined
    ? undefined
    : setTimeout(() => abort.abort(), opts.timeoutMs);
  const cmd = programCommand(argv, {
    cwd: opts.cwd,
    env: opts.env,
    stdout: "piped",
    stderr: "piped",
    signal: abort.signal,
  });
  const start = performance.now();
  const out = await cmd.output().finally(() => clearTimeout(timer));
  const seconds = (performance.now() - start) / 1000;
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  const timedOut = abort.signal.aborted;
  return { seconds, code: out.code, stdout: text(out.stdout), stderr: text(out.stderr), timedOut };
}

/**
 * Like `timeCommand`, but throws (with stderr) unless the exit code is `expect`.
 *
 * @example A no-op plan must exit 0
 * ```ts
 * const r = await timeExpecting(0, ["deno", "run", "-A", "main.ts", "plan", "--detailed-exitcode"]);
 * ```
 */
export async function timeExpecting(
  expect: number,
  argv: readonly string[],
  opts: CommandOptions = {},
): Promise<TimedRun> {
  const r = await timeCommand(argv, opts);
  if (r.timedOut) throw new Error(`${argv.join(" ")}: killed after ${opts.timeoutMs} ms`);
  if (r.code !== expect) {
    const tail = (r.stderr || r.stdout).trim().split("\n").slice(-5).join("\n");
    throw new Error(`${argv.join(" ")}: exit ${r.code}, expected ${expect}\n${tail}`);
  }
  return r;
}

/** Formats seconds for people: `412 ms`, `1.23 s`, `38.0 µs`. */
export function formatSeconds(s: number): string {
  if (s >= 10) return `${s.toFixed(1)} s`;
  if (s >= 1) return `${s.toFixed(2)} s`;
  if (s >= 1e-3) return `${(s * 1e3).toFixed(s >= 0.1 ? 0 : 1)} ms`;
  return `${(s * 1e6).toFixed(1)} µs`;
}

/** Formats a ratio as `×1.23`. */
export function formatRatio(r: number): string {
  return `×${r >= 100 ? r.toFixed(0) : r.toFixed(2)}`;
}

/**
 * Left-aligns the first column and right-aligns the rest.
 *
 * @example
 * ```ts
 * console.log(formatTable([["what", "median"], ["plan", "0.31 s"]]));
 * ```
 */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows.map((r) =>
    r.map((cell, c) => c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])).join("  ")
      .trimEnd()
  ).join("\n");
}

/** A table row for a timing sample: label, median, min, max, n. */
export function timingRow(label: string, s: Summary): string[] {
  return [label, formatSeconds(s.median), formatSeconds(s.min), formatSeconds(s.max), `${s.n}`];
}

/**
 * The 1-minute load average and CPU count, printed with results: numbers
 * measured on a busy machine are only comparable within one run.
 *
 * @example
 * ```ts
 * console.log(machineLoad()); // "load 0.12 on 2 CPUs"
 * ```
 */
export function machineLoad(): string {
  const load = Deno.readTextFileSync("/proc/loadavg").split(" ")[0];
  return `load ${load} on ${navigator.hardwareConcurrency} CPUs`;
}

/** The header that goes with `timingRow`. */
export const TIMING_HEADER = ["", "median", "min", "max", "n"] as const;
