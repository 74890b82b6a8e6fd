/**
 * PolicyChain's cost on an unshaped veth pair: one MPTCP iperf3 flow with a
 * 64-rule chain on both tcx hooks of the client's veth vs no program, in
 * alternating rounds of one run (ABBA), receiver goodput medians and their
 * ratio (goal ≥ 0.97). Then one round with BPF run-time stats on (never in
 * the compared rounds: stats add two clock reads per run) gives the
 * per-packet program time in ns and the program time as a fraction of the
 * flow's transmission time, next to eMPTCP's reported 0.63 %.
 *
 * The chain is the worst case for a miss: 63 rules that each ask for an
 * MPTCP option (so every packet's TCP options are walked) and fail on the
 * port, then a 64th that records every packet, so all 64 rules are tried.
 *
 *     deno task bench --only policy_chain_overhead
 *
 * Knobs: BENCH_PC_PAIRS (default 3), BENCH_PC_SECONDS (default 3).
 *
 * @module
 */
import { applyStack, destroyStack, kernelStore, PolicyChain, Stack } from "../mod.ts";
import { privateBpffsMount } from "../providers/state/bpffs.ts";
import { createNetns, createVethPair } from "../lab/netns_kit.ts";
import { runTransfer } from "../lab/mptcp_transfer.ts";
import { enableRunStats, runStats } from "./bpf_run_stats.ts";
import {
  type BenchContext,
  type Benchmark,
  formatRatio,
  formatTable,
  machineLoad,
  summarize,
} from "./harness.ts";

const PAIRS = Number(Deno.env.get("BENCH_PC_PAIRS") ?? 3);
const SECONDS = Number(Deno.env.get("BENCH_PC_SECONDS") ?? 3);
const GOAL = 0.97;
const EMPTCP_FRACTION = 0.0063;

function chainStack(netns: string): Stack {
  const misses = Array.from({ length: 63 }, (_, i) => ({
    select: { mptcp: ["dss" as const, "join" as const], remotePort: 10_000 + i },
    act: [{ drop: true as const }],
  }));
  const last = { select: { remote: "10.77.0.0/24" }, act: [{ record: true as const }] };
  return new Stack("pc-bench", [
    new PolicyChain("chain", {
      netns,
      attach: [{ dev: "veth0", hooks: ["ingress", "egress"] }],
      rules: [...misses, last],
    }),
  ]);
}

async function lab(ctx: BenchContext) {
  const client = ctx.cleanup.track(await createNetns("sf-bench-pc-c"), "delete client netns");
  const server = ctx.cleanup.track(await createNetns("sf-bench-pc-s"), "delete server netns");
  await createVethPair(
    { netns: client, name: "veth0", addresses: ["10.77.0.1/24"] },
    { netns: server, name: "veth0", addresses: ["10.77.0.2/24"] },
  );
  const bpffs = privateBpffsMount();
  ctx.cleanup.defer("unmount bpffs", () => bpffs.cleanup());
  return { client, server, store: kernelStore(bpffs.root), root: bpffs.root };
}

type Lab = Awaited<ReturnType<typeof lab>>;

async function goodput(l: Lab): Promise<number> {
  const r = await runTransfer({
    client: l.client,
    server: l.server,
    serverAddress: "10.77.0.2",
    mptcp: true,
    seconds: SECONDS,
    sampleEveryMs: 0,
  });
  return r.goodputMbit;
}

async function round(l: Lab, on: boolean, stack: Stack): Promise<number> {
  if (on) await applyStack(stack, l.store);
  try {
    return await goodput(l);
  } finally {
    if (on) await destroyStack(stack, l.store);
  }
}

/** One round with run-time stats on: ns per run and the share of the flow's time. */
async function programTime(l: Lab, stack: Stack) {
  await applyStack(stack, l.store);
  const dir = `${l.root}/pc-bench/chain`;
  const off = enableRunStats();
  try {
    await goodput(l);
    const stats = [await runStats(`${dir}/prog-ingress`), await runStats(`${dir}/prog-egress`)];
    const runs = stats.reduce((n, s) => n + s.runCount, 0);
    const ns = stats.reduce((n, s) => n + s.runTimeNs, 0);
    return { runs, nsPerRun: ns / Math.max(runs, 1), fraction: ns / (SECONDS * 1e9) };
  } finally {
    off();
    await destroyStack(stack, l.store);
  }
}

async function run(ctx: BenchContext): Promise<void> {
  const l = await lab(ctx);
  const stack = chainStack(l.client.path);
  ctx.cleanup.defer("destroy the chain", async () => {
    await destroyStack(stack, l.store);
  });
  const rows = { off: [] as number[], on: [] as number[] };
  for (let p = 0; p < PAIRS; p++) {
    for (const on of p % 2 ? [true, false] : [false, true]) {
      rows[on ? "on" : "off"].push(await round(l, on, stack));
    }
  }
  const [off, on] = [summarize(rows.off), summarize(rows.on)];
  const ratio = on.median / off.median;
  const t = await programTime(l, stack);
  console.log(`policy_chain_overhead (${machineLoad()}, ${PAIRS} ABBA pairs of ${SECONDS} s)`);
  console.log(formatTable([
    ["goodput (Mbit/s)", "median", "min", "max", "n"],
    ["no program", ...[off.median, off.min, off.max].map((x) => x.toFixed(0)), `${off.n}`],
    ["64-rule chain", ...[on.median, on.min, on.max].map((x) => x.toFixed(0)), `${on.n}`],
  ]));
  console.log(`ratio ${formatRatio(ratio)} (goal ≥ ${GOAL}: ${ratio >= GOAL ? "MET" : "MISSED"})`);
  console.log(
    `program time: ${t.nsPerRun.toFixed(0)} ns per packet over ${t.runs} runs (both hooks); ` +
      `${(t.fraction * 100).toFixed(2)} % of the flow's ${SECONDS} s ` +
      `(eMPTCP reports ${(EMPTCP_FRACTION * 100).toFixed(2)} %)`,
  );
}

/** The benchmark, for bench/run.ts. */
export const benchmark: Benchmark = {
  name: "policy_chain_overhead",
  summary: "MPTCP goodput with a 64-rule PolicyChain on both tcx hooks vs none; ns per packet",
  run,
};
