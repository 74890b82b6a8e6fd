/**
 * No-op `plan` of a SocketLookupRedirect stack with 10,000 bindings, as a
 * whole CLI process, against its target (≤ 0.3 s median), side by side with
 * apply-from-empty of the same stack and with bpftool writing the same entries
 * (one exec per entry, extrapolated from a subset; and one batch file).
 * Each repetition runs every candidate once, so drift hits them alike.
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
  timeExpecting,
  TIMING_HEADER,
  timingRow,
} from "./harness.ts";
import { createSlrLab, type SlrLab } from "./slr_lab.ts";
import { slrBenchBindings } from "./slr_stack.ts";
import { bpftoolBatch, bpftoolLoop, ScratchTrie, writeBatchFile } from "./slr_bpftool.ts";
import type { PlanPhases } from "./slr_plan_phases.ts";
import { type Hotspot, profileDenoRun } from "./cpu_profile.ts";
import {
  bindingEntries,
  destinationIds,
  type Entry,
} from "../resources/socket_lookup_redirect/entries.ts";

const BINDINGS = Number(Deno.env.get("SF_BENCH_BINDINGS") ?? 10_000);
const REPS = Number(Deno.env.get("SF_BENCH_REPS") ?? 7);
/** bpftool execs measured per repetition; the full 10,000 would take ~30 s each. */
const LOOP_SUBSET = 500;
const TARGET_SECONDS = 0.3;
const STACK_FILE = "bench/stacks/slr_bindings.ts";
/** A `validate` slower than this means the plan target is missed by far: diagnose and stop. */
const PREFLIGHT_TIMEOUT_MS = 30_000;
const SCALING_COUNTS = [500, 1000, 2000];
const EMPTY_STACK = "bench/stacks/empty.ts";

/** Samples per candidate, in seconds. */
type Samples = Record<
  "plan" | "apply" | "destroy" | "startup" | "loop" | "batch",
  number[]
>;

interface Rig {
  lab: SlrLab;
  trie: ScratchTrie;
  batchFile: string;
  entries: Entry[];
  opts: { cwd: string; env: Record<string, string> };
}

async function oneRep(rig: Rig, s: Samples, phases: PlanPhases[]): Promise<void> {
  const { lab, opts } = rig;
  s.apply.push(
    (await timeExpecting(0, lab.cli(["apply", "-s", STACK_FILE, "--auto-approve"]), opts)).seconds,
  );
  const noop = await timeExpecting(
    0,
    lab.cli(["plan", "-s", STACK_FILE, "--detailed-exitcode"]),
    opts,
  );
  s.plan.push(noop.seconds);
  const phased = await timeExpecting(
    0,
    [Deno.execPath(), "run", "-A", "bench/slr_plan_phases.ts", lab.root],
    opts,
  );
  phases.push(JSON.parse(phased.stdout));
  s.startup.push((await timeExpecting(0, lab.cli(["plan", "-s", EMPTY_STACK]), opts)).seconds);
  await rig.trie.reset();
  s.batch.push(await bpftoolBatch(rig.batchFile));
  await rig.trie.reset();
  s.loop.push(await bpftoolLoop(rig.trie, rig.entries.slice(0, LOOP_SUBSET)));
  s.destroy.push(
    (await timeExpecting(0, lab.cli(["destroy", "-s", STACK_FILE, "--auto-approve"]), opts))
      .seconds,
  );
}

async function makeRig(ctx: BenchContext): Promise<Rig> {
  const lab = await createSlrLab(ctx, BINDINGS);
  const trie = new ScratchTrie(`${lab.mount}/bench_scratch_trie`);
  ctx.cleanup.defer("unpin the scratch trie", () => trie.remove());
  const tmp = await Deno.makeTempDir({ prefix: "sf-bench-" });
  ctx.cleanup.defer("remove the batch file", () => Deno.remove(tmp, { recursive: true }));
  // Straight from the key encoder: building the resource would validate all bindings again.
  const entries = bindingEntries(slrBenchBindings(BINDINGS), destinationIds(["web"]));
  const batchFile = `${tmp}/updates.batch`;
  writeBatchFile(trie, entries, batchFile);
  return { lab, trie, batchFile, entries, opts: { cwd: ctx.projectRoot, env: lab.env } };
}

function printTimings(s: Samples): void {
  const scale = BINDINGS / LOOP_SUBSET;
  const loop = summarize(s.loop.map((x) => x * scale));
  console.log(formatTable([
    [...TIMING_HEADER],
    timingRow("no-op plan, whole CLI process (exit 0)", summarize(s.plan)),
    timingRow("apply from empty, whole CLI process", summarize(s.apply)),
    timingRow("destroy, whole CLI process", summarize(s.destroy)),
    timingRow(
      `bpftool map update × ${BINDINGS}: EXTRAPOLATED ×${scale} from ${LOOP_SUBSET} execs`,
      loop,
    ),
    timingRow(`bpftool batch file, ${BINDINGS} updates in one exec`, summarize(s.batch)),
    timingRow("CLI start-up: plan of an empty stack", summarize(s.startup)),
  ]));
}

function printVerdictAndRatios(s: Samples): void {
  const plan = summarize(s.plan).median;
  const verdict = plan <= TARGET_SECONDS ? "MET" : "MISSED";
  console.log(
    `\ntarget: no-op plan median ≤ ${formatSeconds(TARGET_SECONDS)}: ${verdict} ` +
      `(${formatSeconds(plan)}, ${formatRatio(plan / TARGET_SECONDS)} the target)`,
  );
  const med = (xs: number[]) => summarize(xs).median;
  const loop = med(s.loop) * (BINDINGS / LOOP_SUBSET);
  console.log("\nratios of medians (to the no-op plan):");
  console.log(formatTable([
    ["apply from empty / no-op plan", formatRatio(med(s.apply) / plan)],
    ["bpftool update loop (extrapolated) / no-op plan", formatRatio(loop / plan)],
    ["bpftool batch / no-op plan", formatRatio(med(s.batch) / plan)],
    ["bpftool update loop (extrapolated) / apply from empty", formatRatio(loop / med(s.apply))],
  ]));
}

function printPhases(s: Samples, phases: PlanPhases[]): void {
  const med = (pick: (p: PlanPhases) => number) => summarize(phases.map(pick)).median / 1000;
  const parts: [string, number][] = [
    ["start-up: Deno + loading the engine's modules", med((p) => p.startupMs)],
    [`loading the stack file: building + validating ${BINDINGS} bindings`, med((p) => p.stackMs)],
    ["plan(): find listener, read pins + bindings map, diff", med((p) => p.planMs)],
    ["rendering the plan", med((p) => p.renderMs)],
  ];
  const whole = summarize(s.plan).median;
  const accounted = parts.reduce((sum, [, x]) => sum + x, 0);
  console.log(
    `\nwhere a no-op plan's time goes (medians of ${phases.length} cold runs of bench/slr_plan_phases.ts):`,
  );
  console.log(formatTable([
    ...parts.map(([what, x]) => [`  ${what}`, formatSeconds(x)]),
    [
      "  rest of the whole-process median (runtime boot before its time origin, CLI, exit)",
      formatSeconds(Math.max(0, whole - accounted)),
    ],
  ]));
  if (phases.some((p) => p.changes)) console.log("  WARNING: a phased plan saw changes");
}

/** Times `validate` (start-up + loading the stack) at a few binding counts and profiles the last. */
async function diagnoseSlowValidate(rig: Rig): Promise<void> {
  const argv = rig.lab.cli(["validate", "-s", STACK_FILE]);
  const rows = [["bindings", "validate, whole process"]];
  for (const n of SCALING_COUNTS) {
    const env = { ...rig.opts.env, SF_BENCH_BINDINGS: `${n}` };
    const r = await timeExpecting(0, argv, { ...rig.opts, env });
    rows.push([`${n}`, formatSeconds(r.seconds)]);
  }
  console.log(formatTable(rows));
  const env = { ...rig.opts.env, SF_BENCH_BINDINGS: `${SCALING_COUNTS.at(-1)}` };
  printHotspots(
    await profileDenoRun(argv, { ...rig.opts, env }, 8),
    "validate",
    env.SF_BENCH_BINDINGS,
  );
}

/** One `validate` first: when loading the stack alone blows the budget, say where and stop. */
async function preflight(rig: Rig): Promise<void> {
  const argv = rig.lab.cli(["validate", "-s", STACK_FILE]);
  const r = await timeCommand(argv, { ...rig.opts, timeoutMs: PREFLIGHT_TIMEOUT_MS });
  if (!r.timedOut && r.code === 0) {
    console.log(
      `preflight: validate (start-up + loading the stack) took ${formatSeconds(r.seconds)}`,
    );
    return;
  }
  if (!r.timedOut) throw new Error(`validate failed: ${r.stderr.trim()}`);
  const budget = formatSeconds(PREFLIGHT_TIMEOUT_MS / 1000);
  console.log(`preflight: validate of ${BINDINGS} bindings did not finish in ${budget}; scaling:`);
  await diagnoseSlowValidate(rig);
  throw new Error(
    `target MISSED by far: loading a ${BINDINGS}-binding stack takes over ${budget} ` +
      `(target for the whole no-op plan: ${formatSeconds(TARGET_SECONDS)}); repetitions skipped`,
  );
}

/** Applies the stack once more and profiles one no-op plan of it. */
async function profileNoopPlan(rig: Rig): Promise<Hotspot[]> {
  await timeExpecting(0, rig.lab.cli(["apply", "-s", STACK_FILE, "--auto-approve"]), rig.opts);
  return await profileDenoRun(rig.lab.cli(["plan", "-s", STACK_FILE]), rig.opts, 8);
}

function printHotspots(hot: Hotspot[], what = "no-op plan", bindings = `${BINDINGS}`): void {
  console.log(
    `\nhotspots of one profiled ${what} of ${bindings} bindings (V8 --cpu-prof, self time):`,
  );
  console.log(formatTable(hot.map((h) => [`  ${h.where}`, `${h.ms.toFixed(0)} ms`])));
}

async function run(ctx: BenchContext): Promise<void> {
  const rig = await makeRig(ctx);
  console.log(machineLoad());
  await preflight(rig);
  const s: Samples = { plan: [], apply: [], destroy: [], startup: [], loop: [], batch: [] };
  const phases: PlanPhases[] = [];
  for (let rep = 1; rep <= REPS; rep++) {
    await oneRep(rig, s, phases);
    console.log(`rep ${rep}/${REPS}: no-op plan ${formatSeconds(s.plan.at(-1)!)}`);
  }
  const hot = await profileNoopPlan(rig);
  console.log(`\n${BINDINGS} bindings, ${REPS} repetitions, each running every row once:`);
  printTimings(s);
  printVerdictAndRatios(s);
  printPhases(s, phases);
  printHotspots(hot);
  console.log(`\n${machineLoad()}`);
  await timeExpecting(0, rig.lab.cli(["destroy", "-s", STACK_FILE, "--auto-approve"]), rig.opts);
}

/** The no-op plan benchmark. */
export const benchmark: Benchmark = {
  name: "slr_noop_plan",
  summary:
    `no-op plan of ${BINDINGS} SocketLookupRedirect bindings vs apply-from-empty and bpftool`,
  run,
};
