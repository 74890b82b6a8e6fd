/**
 * Failed and misrouted connections during SocketLookupRedirect updates the
 * plan calls hitless, over long runs: the same client as the kernel tests
 * (tests/helpers/traffic.ts) runs at a steady rate through every apply of
 * each scenario, and each connection's answer is checked against the
 * listeners its binding may reach (old or new destination). Reports counts,
 * not timings; any failure or misroute in a hitless apply is a bug.
 *
 *     SF_BENCH_ROUNDS   applies per scenario (default 20)
 *     SF_BENCH_PADDING  extra bindings that widen each apply (default 20,000)
 *     SF_BENCH_RATE     connections/s (default 500)
 *
 * @module
 */
import { type BenchContext, type Benchmark, formatTable, machineLoad } from "./harness.ts";
import { applyStack, kernelStore } from "../mod.ts";
import type { StateStore } from "../engine/store.ts";
import { readMeta, writeMeta } from "../providers/state/meta.ts";
import { privateBpffs } from "../lab/bpffs.ts";
import { createSlrLab, type SlrLab } from "../tests/helpers/slr_lab.ts";
import { slrStack, type SlrStackSpec } from "../tests/helpers/slr_specs.ts";
import { duringTraffic, type TrafficTarget } from "../tests/helpers/traffic.ts";

const ROUNDS = Number(Deno.env.get("SF_BENCH_ROUNDS") ?? 20);
const PADDING = Number(Deno.env.get("SF_BENCH_PADDING") ?? 20_000);
const RATE = Number(Deno.env.get("SF_BENCH_RATE") ?? 500);

const A = { listener: "tcp://127.0.0.1:8080" };
const B = { listener: "tcp://127.0.0.1:8081" };
const AA = { listener: "tcp://127.0.0.1:8082" };
const tcp = (prefix: string, ports: number, to: string) => ({
  protocol: "tcp" as const,
  prefix,
  ports,
  to,
});

/** /32 bindings to B outside the lab's prefixes (their ids move when B's would). */
const padding = Array.from(
  { length: PADDING },
  (_, i) => tcp(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`, 80, "B"),
);

const stackA: SlrStackSpec = {
  bindings: [tcp("192.0.2.0/24", 80, "A"), tcp("198.51.100.0/24", 80, "B"), ...padding],
  destinations: { A, B },
};
const stackB: SlrStackSpec = {
  bindings: [...stackA.bindings, tcp("192.0.2.0/24", 81, "AA")],
  destinations: { A, B, AA },
};
const repointed: SlrStackSpec = {
  ...stackA,
  bindings: [tcp("192.0.2.0/24", 80, "B"), ...stackA.bindings.slice(1)],
};

/** One scenario: the specs it alternates, what each target may answer, and a setup per apply. */
interface Scenario {
  name: string;
  specs: SlrStackSpec[];
  targets: TrafficTarget[];
  before?: (dir: string) => void;
}

const SCENARIOS: Scenario[] = [
  {
    name: "destination added and removed (issue 12 repro)",
    specs: [stackB, stackA],
    targets: [
      { host: "198.51.100.10", port: 80, accept: ["B"] },
      { host: "192.0.2.10", port: 81, accept: ["AA"], mayFail: true },
      { host: "192.0.2.10", port: 80, accept: ["A"] },
    ],
  },
  {
    name: "binding re-pointed A ↔ B",
    specs: [repointed, stackA],
    targets: [
      { host: "192.0.2.10", port: 80, accept: ["A", "B"] },
      { host: "198.51.100.10", port: 80, accept: ["B"] },
    ],
  },
  {
    name: "program swap (new object hash)",
    specs: [stackA],
    targets: [
      { host: "192.0.2.10", port: 80, accept: ["A"] },
      { host: "198.51.100.10", port: 80, accept: ["B"] },
    ],
    before: (dir) => writeMeta(dir, { ...readMeta(dir)!, objectHash: "0".repeat(64) }),
  },
];

/** Totals of one scenario. */
interface Row {
  applies: number;
  notHitless: number;
  total: number;
  failed: number;
  misrouted: number;
}

async function runScenario(lab: SlrLab, store: StateStore, dir: string, s: Scenario) {
  const row: Row = { applies: 0, notHitless: 0, total: 0, failed: 0, misrouted: 0 };
  for (let i = 0; i < ROUNDS; i++) {
    s.before?.(dir);
    const spec = s.specs[i % s.specs.length];
    const { counts } = await duringTraffic(
      lab.name,
      s.targets,
      () =>
        applyStack(slrStack(lab, spec, "bench"), store, {
          confirm: (p) => {
            if (!p.steps.every((x) => x.hitless)) row.notHitless++;
            return true;
          },
        }),
      { rate: RATE, maxConnections: 1_000_000, maxSeconds: 600 },
    );
    row.applies++;
    row.total += counts.total;
    row.failed += counts.failed;
    row.misrouted += counts.misrouted;
  }
  return row;
}

async function run(ctx: BenchContext): Promise<void> {
  const fs = ctx.cleanup.track(privateBpffs(), "unmount the private bpffs");
  const lab = ctx.cleanup.track(await createSlrLab("bench"), "remove the lab netns");
  for (const [port, name] of [[8080, "A"], [8081, "B"], [8082, "AA"]] as const) {
    await lab.serve("tcp", "127.0.0.1", port, name);
  }
  const store = kernelStore(fs.root);
  const dir = `${fs.root}/bench/web`;
  console.log(machineLoad());
  await applyStack(slrStack(lab, stackA, "bench"), store);
  const rows: string[][] = [["scenario", "applies", "not hitless", "conns", "failed", "misrouted"]];
  for (const s of SCENARIOS) {
    const r = await runScenario(lab, store, dir, s);
    rows.push([s.name, ...[r.applies, r.notHitless, r.total, r.failed, r.misrouted].map(String)]);
  }
  console.log(
    `\n${ROUNDS} applies per scenario, ${PADDING} padding bindings, client at ${RATE}/s:`,
  );
  console.log(formatTable(rows));
  console.log(`\n${machineLoad()}`);
}

/** The traffic-during-apply benchmark. */
export const benchmark: Benchmark = {
  name: "slr_hitless_traffic",
  summary: "failed and misrouted connections during hitless SocketLookupRedirect applies",
  run,
};
