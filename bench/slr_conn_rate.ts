/**
 * New-connection rate through the SocketLookupRedirect sk_lookup program with
 * 10,000 bindings vs no program, in one run. The worker (one Python process in
 * the lab netns) makes K connect + accept + close cycles to the listener's own
 * address, bound by the program; "off" rounds run with no sk_lookup program on
 * the netns, so the kernel's normal lookup finds the same listener. Rounds
 * alternate in ABBA pairs so linear drift cancels; the per-destination
 * counters prove the "on" rounds really went through the program.
 *
 * @module
 */
import {
  type BenchContext,
  type Benchmark,
  formatRatio,
  formatSeconds,
  formatTable,
  machineLoad,
  summarize,
  timeCommand,
} from "./harness.ts";
import { enableRunStats, runStats } from "./bpf_run_stats.ts";
import { createSlrLab, type SlrLab } from "./slr_lab.ts";
import {
  BENCH_PORT,
  BENCH_RESOURCE,
  BENCH_STACK,
  listenerAddress,
  slrBenchBindings,
  slrBenchStack,
} from "./slr_stack.ts";
import { applyStack, kernelStore } from "../mod.ts";
import { BpfLink } from "../providers/libbpf/link.ts";
import { BpfMap } from "../providers/libbpf/map.ts";
import { openPin } from "../providers/libbpf/pins.ts";
import { openNetns } from "../providers/system/netns.ts";
import { libc } from "../providers/libc/ffi.ts";
import { readCounters, u32 } from "../providers/socket_lookup_redirect/kernel.ts";
import {
  bindingEntries,
  destinationIds,
  keyBytes,
} from "../resources/socket_lookup_redirect/entries.ts";

const BINDINGS = Number(Deno.env.get("SF_BENCH_BINDINGS") ?? 10_000);
/** Connections per round. */
const K = Number(Deno.env.get("SF_BENCH_CONNS") ?? 5_000);
/** ABBA pairs: each pair is one "on" and one "off" round. */
const PAIRS = Number(Deno.env.get("SF_BENCH_PAIRS") ?? 16);
const TARGET_RATIO = 0.95;
/** Loading a stack slower than this: declare the listener's binding only and fill the rest directly. */
const VALIDATE_BUDGET_MS = 30_000;

/** How the 10,000 entries got into the map. */
type Fill = "apply" | "direct";

/** Can the whole stack be loaded in budget? Runs `validate` in a subprocess to find out. */
async function stackLoadsInBudget(ctx: BenchContext, lab: SlrLab): Promise<boolean> {
  const argv = lab.cli(["validate", "-s", "bench/stacks/slr_bindings.ts"]);
  const opts = { cwd: ctx.projectRoot, env: lab.env, timeoutMs: VALIDATE_BUDGET_MS };
  const r = await timeCommand(argv, opts);
  if (!r.timedOut && r.code !== 0) throw new Error(`validate failed: ${r.stderr.trim()}`);
  return !r.timedOut;
}

/** Writes every benchmark binding straight into the pinned map (same keys as apply writes). */
function fillBindingsDirectly(dir: string): void {
  const map = BpfMap.openPinned(`${dir}/bindings`);
  if (!map) throw new Error(`${dir}/bindings is not pinned`);
  try {
    for (const e of bindingEntries(slrBenchBindings(BINDINGS), destinationIds(["web"]))) {
      map.update(keyBytes(e.key), u32(e.destId));
    }
  } finally {
    map.close();
  }
}

/** Applies the benchmark stack with sockform; returns the resource directory and how it filled. */
async function deploy(ctx: BenchContext, lab: SlrLab): Promise<{ dir: string; fill: Fill }> {
  const fill: Fill = (await stackLoadsInBudget(ctx, lab)) ? "apply" : "direct";
  const stack = slrBenchStack(lab.netns.path, BINDINGS, { listenerBindingOnly: fill === "direct" });
  await applyStack(stack, kernelStore(lab.root));
  const dir = `${lab.root}/${BENCH_STACK}/${BENCH_RESOURCE}`;
  if (fill === "direct") fillBindingsDirectly(dir);
  const entries = BpfMap.openPinned(`${dir}/bindings`);
  const count = entries?.keys().length;
  entries?.close();
  if (count !== BINDINGS) throw new Error(`the bindings map holds ${count}, not ${BINDINGS}`);
  return { dir, fill };
}

/**
 * Switches the deployed program on and off. The pinned link is detached once;
 * each "on" round attaches a fresh link to the same program (same maps) and
 * closes it afterwards, which detaches it.
 */
class ProgramSwitch {
  readonly #progFd: number;
  readonly #netnsFd: number;
  #link: BpfLink | null = null;

  constructor(dir: string, netnsPath: string) {
    const pinned = BpfLink.openPinned(`${dir}/link`);
    if (!pinned) throw new Error(`${dir}/link is not pinned`);
    try {
      pinned.detach();
    } finally {
      pinned.close();
    }
    const prog = openPin(`${dir}/prog`, "prog");
    if (prog === null) throw new Error(`${dir}/prog is not pinned`);
    this.#progFd = prog;
    this.#netnsFd = openNetns(netnsPath);
  }

  set(on: boolean): void {
    if (on && !this.#link) this.#link = BpfLink.attachSkLookupFd(this.#progFd, this.#netnsFd);
    if (!on && this.#link) {
      this.#link.close();
      this.#link = null;
    }
  }

  close(): void {
    this.set(false);
    libc().close(this.#progFd);
    libc().close(this.#netnsFd);
  }
}

/** Connections redirected by the program so far (all destinations). */
function redirected(dir: string): number {
  return Object.values(readCounters(dir)).reduce((sum, c) => sum + c.redirected, 0);
}

/** Connections/s of one round, by wall clock and by the worker's CPU time. */
interface Rates {
  wall: number;
  cpu: number;
}

/** Round i of `on` and round i of `off` form ABBA pair i. */
interface Rounds {
  on: Rates[];
  off: Rates[];
}

async function round(lab: SlrLab, sw: ProgramSwitch, dir: string, on: boolean): Promise<Rates> {
  sw.set(on);
  const before = redirected(dir);
  const t = await lab.worker.connections(K, listenerAddress(BINDINGS), BENCH_PORT);
  const through = redirected(dir) - before;
  if (through !== (on ? K : 0)) {
    throw new Error(`a round with the program ${on ? "on" : "off"} redirected ${through} of ${K}`);
  }
  return { wall: K / t.wall, cpu: K / t.cpu };
}

async function measure(lab: SlrLab, sw: ProgramSwitch, dir: string): Promise<Rounds> {
  await round(lab, sw, dir, true); // warm-up, both ways, not recorded
  await round(lab, sw, dir, false);
  const out: Rounds = { on: [], off: [] };
  for (let pair = 0; pair < PAIRS; pair++) {
    for (const on of pair % 2 === 0 ? [true, false] : [false, true]) {
      (on ? out.on : out.off).push(await round(lab, sw, dir, on));
    }
  }
  return out;
}

/** The program's own average run time per lookup, from kernel stats, in an extra round. */
async function programCost(lab: SlrLab, sw: ProgramSwitch, dir: string) {
  const off = enableRunStats();
  try {
    const before = await runStats(`${dir}/prog`);
    await round(lab, sw, dir, true);
    const after = await runStats(`${dir}/prog`);
    const runs = after.runCount - before.runCount;
    return { runs, nsPerRun: runs ? (after.runTimeNs - before.runTimeNs) / runs : NaN };
  } finally {
    off();
  }
}

/** Prints one metric's medians and ratios; returns the median of the per-pair ratios. */
function printMetric(title: string, on: number[], off: number[]): number {
  const [a, b] = [summarize(on), summarize(off)];
  const fmt = (x: number) => `${Math.round(x)}/s`;
  const pairs = summarize(on.map((x, i) => x / off[i]));
  console.log(`\n${title}:`);
  console.log(formatTable([
    ["", "median", "min", "max", "rounds"],
    [`  sk_lookup program, ${BINDINGS} bindings`, fmt(a.median), fmt(a.min), fmt(a.max), `${a.n}`],
    ["  no program (kernel lookup)", fmt(b.median), fmt(b.min), fmt(b.max), `${b.n}`],
  ]));
  console.log(
    `  on/off: ratio of medians ${formatRatio(a.median / b.median)}; per ABBA pair: median ` +
      `${formatRatio(pairs.median)} (min ${formatRatio(pairs.min)}, max ${formatRatio(pairs.max)})`,
  );
  return pairs.median;
}

function printResults(r: Rounds, cost: { runs: number; nsPerRun: number }): void {
  const wall = printMetric(
    "connections/s, wall clock",
    r.on.map((x) => x.wall),
    r.off.map((x) => x.wall),
  );
  printMetric(
    "connections/s per CPU-second of the worker (less sensitive to other load)",
    r.on.map((x) => x.cpu),
    r.off.map((x) => x.cpu),
  );
  const verdict = wall >= TARGET_RATIO ? "MET" : "MISSED";
  console.log(`\ntarget on/off ≥ ${TARGET_RATIO} (wall clock, median per pair): ${verdict}`);
  const offSeconds = 1 / summarize(r.off.map((x) => x.wall)).median;
  const implied = offSeconds / (offSeconds + cost.nsPerRun * 1e-9);
  console.log(
    `program run time per lookup (kernel BPF stats, one extra round): ` +
      `${cost.nsPerRun.toFixed(0)} ns over ${cost.runs} runs; against ` +
      `${formatSeconds(offSeconds)} per connection without it, that alone implies ${
        formatRatio(implied)
      }`,
  );
}

function printFillNote(fill: Fill): void {
  if (fill === "apply") return;
  console.log(
    `NOTE: loading a ${BINDINGS}-binding stack took over ${VALIDATE_BUDGET_MS / 1000} s ` +
      `(see slr_noop_plan), so sockform applied the listener's binding and the bench wrote ` +
      `the other ${BINDINGS - 1} entries straight into the same map.`,
  );
}

async function run(ctx: BenchContext): Promise<void> {
  const lab = await createSlrLab(ctx, BINDINGS);
  console.log(machineLoad());
  const { dir, fill } = await deploy(ctx, lab);
  const sw = new ProgramSwitch(dir, lab.netns.path);
  ctx.cleanup.defer("detach the benchmark link", () => sw.close());
  const rounds = await measure(lab, sw, dir);
  const cost = await programCost(lab, sw, dir);
  console.log(
    `\n${K} connect+accept+close per round to ${listenerAddress(BINDINGS)}:${BENCH_PORT}, ` +
      `${PAIRS} ABBA pairs (bindings: ${fill === "apply" ? "applied by sockform" : "see NOTE"}):`,
  );
  printResults(rounds, cost);
  printFillNote(fill);
  console.log(`\n${machineLoad()}`);
}

/** The connection-rate benchmark. */
export const benchmark: Benchmark = {
  name: "slr_conn_rate",
  summary: `TCP connections/s through sk_lookup with ${BINDINGS} bindings vs no program (ABBA)`,
  run,
};
