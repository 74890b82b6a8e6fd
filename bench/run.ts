/**
 * `deno task bench`: runs the benchmarks in `bench/`, one after another, and
 * cleans up after each (also on failure and on Ctrl-C).
 *
 *     deno task bench                         # all of them
 *     deno task bench --only slr_conn_rate    # one (repeat or comma-separate for more)
 *     deno task bench --list
 *
 * To add a benchmark, write `bench/<name>.ts` exporting `benchmark: Benchmark`
 * (see harness.ts) and add one line to `BENCHMARKS` below.
 *
 * @module
 */
import { CleanupStack } from "../lab/netns_kit.ts";
import type { Benchmark } from "./harness.ts";

/** Every benchmark, in running order; loaded lazily so one broken file does not stop `--only`. */
const BENCHMARKS: Record<string, () => Promise<{ benchmark: Benchmark }>> = {
  slr_noop_plan: () => import("./slr_noop_plan.ts"),
  slr_conn_rate: () => import("./slr_conn_rate.ts"),
  slr_hitless_traffic: () => import("./slr_hitless_traffic.ts"),
  mptcp_aggregation: () => import("./mptcp_aggregation.ts"),
  mptcpify_socket_rate: () => import("./mptcpify_socket_rate.ts"),
  mptcp_agent_reaction: () => import("./mptcp_agent_reaction.ts"),
  mptcp_agent_events: () => import("./mptcp_agent_events.ts"),
  scheduler_failover: () => import("./scheduler_failover.ts"),
  policy_chain_overhead: () => import("./policy_chain_overhead.ts"),
};

const USAGE = "usage: deno task bench [--only NAME[,NAME]]... [--list]";

/** Parsed command line. */
interface Options {
  only: string[];
  list: boolean;
}

function parseArgs(args: readonly string[]): Options {
  const opts: Options = { only: [], list: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--list") opts.list = true;
    else if (arg === "--only" && args[i + 1]) opts.only.push(...args[++i].split(","));
    else if (arg.startsWith("--only=")) opts.only.push(...arg.slice(7).split(","));
    else if (arg === "-h" || arg === "--help") {
      console.log(USAGE);
      Deno.exit(0);
    } else throw new Error(`unknown argument ${arg}\n${USAGE}`);
  }
  const unknown = opts.only.filter((n) => !(n in BENCHMARKS));
  if (unknown.length) {
    throw new Error(`no benchmark named ${unknown.join(", ")} (known: ${names().join(", ")})`);
  }
  return opts;
}

function names(): string[] {
  return Object.keys(BENCHMARKS);
}

/** Set once Ctrl-C or SIGTERM arrived: failures after that are the interruption's. */
let interrupted = false;

/** Runs the current cleanup on Ctrl-C / SIGTERM, then exits with 128 + signal. */
function onSignal(current: () => CleanupStack | null): void {
  const handler = (signal: Deno.Signal, code: number) => async () => {
    interrupted = true;
    console.error(`\n${signal}: cleaning up…`);
    try {
      await current()?.cleanup();
    } catch (err) {
      console.error(err instanceof AggregateError ? err.errors : err);
    }
    Deno.exit(code);
  };
  Deno.addSignalListener("SIGINT", handler("SIGINT", 130));
  Deno.addSignalListener("SIGTERM", handler("SIGTERM", 143));
}

async function runOne(name: string, cleanup: CleanupStack): Promise<boolean> {
  const { benchmark } = await BENCHMARKS[name]();
  console.log(`\n=== ${benchmark.name}: ${benchmark.summary}`);
  const projectRoot = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const start = performance.now();
  try {
    await benchmark.run({ cleanup, projectRoot });
    return true;
  } catch (err) {
    if (!interrupted) console.error(`${name} failed: ${err instanceof Error ? err.message : err}`);
    return false;
  } finally {
    await cleanup.cleanup().catch((err) => {
      console.error(`${name} cleanup failed:`, err instanceof AggregateError ? err.errors : err);
    });
    console.log(`(${name} took ${((performance.now() - start) / 1000).toFixed(1)} s)`);
  }
}

async function main(): Promise<number> {
  const opts = parseArgs(Deno.args);
  if (opts.list) {
    for (const name of names()) {
      console.log(`${name}: ${(await BENCHMARKS[name]()).benchmark.summary}`);
    }
    return 0;
  }
  if (Deno.uid() !== 0) throw new Error("the benchmarks need root (netns, bpffs, BPF programs)");
  let current: CleanupStack | null = null;
  onSignal(() => current);
  const failed: string[] = [];
  for (const name of opts.only.length ? opts.only : names()) {
    current = new CleanupStack();
    if (!(await runOne(name, current))) failed.push(name);
    current = null;
  }
  if (failed.length) console.error(`\nfailed: ${failed.join(", ")}`);
  return failed.length ? 1 : 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    Deno.exit(1);
  }
}
