/**
 * MPTCP aggregation in the two-path lab (each path shaped to 50 Mbit/s):
 * one TCP connection on one path vs one MPTCP connection over both, several
 * repetitions alternating, receiver goodput medians and their ratio (target
 * ≥ 1.9×, at most 2.0× is possible). Writes `bench/out/mptcp_aggregation.svg`,
 * goodput per path over time from the subflows' byte counters. Then times
 * applying 8 endpoints with a PathManager vs a script of 8 `ip mptcp endpoint add`.
 *
 *     deno task bench --only mptcp_aggregation
 *     deno run -A bench/mptcp_aggregation.ts         # standalone
 *
 * Knobs: BENCH_MPTCP_REPS (default 5), BENCH_MPTCP_SECONDS (default 3).
 *
 * @module
 */
import { applyStack, destroyStack, kernelStore } from "../mod.ts";
import { mptcpLabStack } from "../examples/path_manager_stack.ts";
import { privateBpffsMount } from "../providers/state/bpffs.ts";
import { CleanupStack } from "../lab/netns_kit.ts";
import { setupTwoPathLab, type TwoPathLab } from "../lab/two_path_lab.ts";
import { runTransfer, type TransferResult } from "../lab/mptcp_transfer.ts";
import { groupByConnection } from "../lab/subflows.ts";
import {
  type BenchContext,
  type Benchmark,
  formatRatio,
  formatTable,
  summarize,
} from "./harness.ts";
import { renderLineChart, type Series } from "./svg_chart.ts";
import { timeEndpointApply } from "./mptcp_endpoint_apply.ts";

const REPS = Number(Deno.env.get("BENCH_MPTCP_REPS") ?? 5);
const SECONDS = Number(Deno.env.get("BENCH_MPTCP_SECONDS") ?? 3);
const SAMPLE_MS = 200;
const TARGET = 1.9;
const COLORS = ["#1f77b4", "#ff7f0e"];

function transfer(lab: TwoPathLab, mptcp: boolean): Promise<TransferResult> {
  return runTransfer({
    client: lab.client,
    server: lab.server,
    serverAddress: lab.paths[0].serverAddress,
    mptcp,
    seconds: SECONDS,
    sampleEveryMs: mptcp ? SAMPLE_MS : 0,
  });
}

/** ss writes a device-bound subflow's address as `10.1.3.1%veth-b`. */

/**
 * Goodput per path over time: the data connection's acked bytes per client
 * address, differentiated between samples.
 *
 * @example Charting one MPTCP transfer
 * ```ts
 * const svg = renderLineChart({ title: "t", xLabel: "s", yLabel: "Mbit/s", series: perPathSeries(lab, mp) });
 * ```
 */
export function perPathSeries(lab: TwoPathLab, result: TransferResult): Series[] {
  const [data] = groupByConnection(result.samples.at(-1)?.subflows ?? []);
  const paths = lab.paths.map((path, i) => {
    let prev = { at: 0, bytes: 0 };
    const points = result.samples.map((s): [number, number] => {
      const bytes = s.subflows
        .filter((sf) => sf.token === data?.token && sf.local === path.clientAddress)
        .reduce((n, sf) => n + sf.bytesAcked, 0);
      const mbit = ((bytes - prev.bytes) * 8) / ((s.atMs - prev.at) * 1000);
      prev = { at: s.atMs, bytes };
      return [s.atMs / 1000, Math.max(0, mbit)];
    });
    return { name: `${path.dev} (${path.clientAddress})`, color: COLORS[i], points };
  });
  const total = paths[0].points.map(([t, a], i) =>
    [t, a + paths[1].points[i][1]] as [number, number]
  );
  return [...paths, { name: "both paths", color: "#2ca02c", points: total, dashed: true }];
}

async function writeChart(lab: TwoPathLab, result: TransferResult, projectRoot: string) {
  const svg = renderLineChart({
    title: `MPTCP goodput per path (${result.goodputMbit.toFixed(1)} Mbit/s received)`,
    xLabel: "seconds since the transfer started",
    yLabel: "Mbit/s (acked, per sample)",
    series: perPathSeries(lab, result),
    marks: [{ y: lab.rateMbit, label: `one path: ${lab.rateMbit} Mbit/s` }],
  });
  const dir = `${projectRoot}/bench/out`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/mptcp_aggregation.svg`, svg);
  return `${dir}/mptcp_aggregation.svg`;
}

function report(tcp: TransferResult[], mp: TransferResult[]): number {
  const t = summarize(tcp.map((r) => r.goodputMbit));
  const m = summarize(mp.map((r) => r.goodputMbit));
  const subflows = summarize(mp.map((r) => r.dataSubflows.length));
  const row = (
    label: string,
    s: typeof t,
    extra: string,
  ) => [label, s.median.toFixed(1), s.min.toFixed(1), s.max.toFixed(1), `${s.n}`, extra];
  console.log(formatTable([
    ["receiver goodput, Mbit/s", "median", "min", "max", "n", "subflows"],
    row("TCP, one path", t, "—"),
    row("MPTCP, both paths", m, `${subflows.median}`),
  ]));
  const ratio = m.median / t.median;
  const verdict = ratio >= TARGET ? "meets" : "BELOW";
  console.log(
    `ratio MPTCP/TCP (medians): ${
      formatRatio(ratio)
    } — ${verdict} the ≥ ${TARGET}× target (2.0× is the limit)`,
  );
  return ratio;
}

async function aggregation(ctx: BenchContext): Promise<void> {
  const lab = await setupTwoPathLab({ prefix: "sf-bench-mp", cleanupOnSigint: false });
  ctx.cleanup.defer("tear down the two-path lab", () => lab.teardown());
  const fs = privateBpffsMount();
  ctx.cleanup.defer("unmount the bench bpffs", () => fs.cleanup());
  const stack = mptcpLabStack(lab.client.path, lab.server.path, "bench-mptcp");
  const store = kernelStore(fs.root);
  await applyStack(stack, store);
  ctx.cleanup.defer("destroy the PathManager stack", async () => {
    await destroyStack(stack, store);
  });
  console.log(`${REPS} × (TCP, MPTCP), ${SECONDS} s each, alternating`);
  const tcp: TransferResult[] = [];
  const mp: TransferResult[] = [];
  for (let i = 0; i < REPS; i++) {
    tcp.push(await transfer(lab, false));
    mp.push(await transfer(lab, true));
  }
  report(tcp, mp);
  const median = [...mp].sort((a, b) => a.goodputMbit - b.goodputMbit)[mp.length >> 1];
  console.log(`chart: ${await writeChart(lab, median, ctx.projectRoot)}`);
}

/**
 * The registered benchmark.
 *
 * @example Running it outside bench/run.ts
 * ```ts
 * await benchmark.run({ cleanup: new CleanupStack(), projectRoot: "." });
 * ```
 */
export const benchmark: Benchmark = {
  name: "mptcp_aggregation",
  summary:
    "TCP on one path vs MPTCP on two (medians, ratio, SVG per path); 8 endpoints: PathManager vs ip ×8",
  run: async (ctx) => {
    await aggregation(ctx);
    await timeEndpointApply(ctx);
  },
};

if (import.meta.main) {
  const cleanup = new CleanupStack();
  const projectRoot = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  Deno.addSignalListener("SIGINT", () => cleanup.cleanup().finally(() => Deno.exit(130)));
  try {
    await benchmark.run({ cleanup, projectRoot });
  } finally {
    await cleanup.cleanup();
  }
}
