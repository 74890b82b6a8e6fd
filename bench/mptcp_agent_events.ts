/**
 * The agent's event throughput: bursts of short MPTCP connections of growing
 * size, with the agent running the builtin ndiffports(2) policy (so every
 * connection also costs it a SUBFLOW_CREATE) in userspace-PM mode. A
 * bystander monitor with its own event socket and no policy counts the same
 * events: it is the baseline from the same run. Each row gives the offered
 * event rate (the monitor's count over the burst's wall time), the agent's
 * count over the monitor's (1.00 is no loss), and the agent's overflows and
 * resyncs. The highest rate with zero loss and no overflow is the result.
 *
 *     deno task bench --only mptcp_agent_events
 *
 * Knobs: SF_BENCH_AGENT_BURSTS (comma-separated burst sizes, default
 * 500,1000,2000,3000,6000), SF_BENCH_AGENT_CLIENTS (parallel burst clients
 * sharing each burst, default 4).
 *
 * @module
 */
import { setupTwoPathLab } from "../lab/two_path_lab.ts";
import { runBurst, setUserspacePm, startHoldingServer } from "../lab/mptcp_burst.ts";
import { setLimits } from "../providers/netlink/mptcp_pm.ts";
import {
  type AgentCounters,
  readAgentStatus,
  startAgent,
  stopAgent,
  totalEvents,
} from "../providers/mptcp_agent/mod.ts";
import { type BenchContext, type Benchmark, formatTable } from "./harness.ts";
import { EventMonitor } from "./mptcp_agent_kit.ts";

const BURSTS = (Deno.env.get("SF_BENCH_AGENT_BURSTS") ?? "500,1000,2000,3000,6000")
  .split(",").map(Number);
const PORT = 7301;
/** Burst clients running at once, so the offered rate is not one Python loop's. */
const CLIENTS = Number(Deno.env.get("SF_BENCH_AGENT_CLIENTS") ?? 4);
/** How long to wait for the agent's status file to catch up (it is written about once a second). */
const SETTLE_MS = 10_000;

function agentCounters(statusFile: string): AgentCounters {
  const counters = readAgentStatus(statusFile)?.counters;
  if (!counters) throw new Error(`agent status ${statusFile} has no counters`);
  return counters;
}

/** Waits until the agent has counted `want` more events than `before`, or the settle time ends. */
async function settled(statusFile: string, before: number, want: number): Promise<AgentCounters> {
  const deadline = Date.now() + SETTLE_MS;
  let now = agentCounters(statusFile);
  while (totalEvents(now) - before < want && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    now = agentCounters(statusFile);
  }
  return now;
}

interface Row {
  size: number;
  seconds: number;
  offered: number;
  agent: number;
  monitor: number;
  overflows: number;
  resyncs: number;
}

function report(rows: Row[]): void {
  console.log(formatTable([
    ["burst", "s", "offered ev/s", "monitor events", "agent events", "agent/monitor", "overflows"],
    ...rows.map((r) => [
      `${r.size}`,
      r.seconds.toFixed(2),
      r.offered.toFixed(0),
      `${r.monitor}`,
      `${r.agent}`,
      (r.agent / r.monitor).toFixed(3),
      `${r.overflows} (${r.resyncs} resyncs)`,
    ]),
  ]));
  const clean = rows.filter((r) => r.agent >= r.monitor && r.overflows === 0);
  const best = clean.reduce((a, r) => (r.offered > a ? r.offered : a), 0);
  console.log(`highest offered rate handled with zero loss: ${best.toFixed(0)} events/s`);
}

async function throughput(ctx: BenchContext): Promise<void> {
  const lab = await setupTwoPathLab({ prefix: "sf-bench-ev", cleanupOnSigint: false });
  ctx.cleanup.defer("two-path lab", () => lab.teardown());
  const dir = await Deno.makeTempDir({ prefix: "sf-bench-agent-" });
  ctx.cleanup.defer("agent dir", () => Deno.remove(dir, { recursive: true }));
  for (const ns of [lab.client.path, lab.server.path]) {
    setLimits({ subflows: 4, addAddrAccepted: 4 }, ns);
  }
  setUserspacePm(lab.client.path);
  const server = await startHoldingServer(lab.server, "0.0.0.0", PORT, 900);
  ctx.cleanup.defer("holding server", () => server.stop());
  const statusFile = `${dir}/agent.json`;
  const agent = await startAgent({
    kind: "path_manager",
    name: "bench",
    netns: lab.client.path,
    statusFile,
    params: { policy: { builtin: "ndiffports", subflows: 2 }, locals: [] },
  });
  ctx.cleanup.defer("agent", async () => void await stopAgent(agent));
  const monitor = EventMonitor.open(lab.client.path);
  ctx.cleanup.defer("monitor", () => monitor.close());
  const rows: Row[] = [];
  for (const size of BURSTS) {
    const before = agentCounters(statusFile);
    const seen = monitor.events;
    const started = performance.now();
    const bursts = await Promise.all(
      Array.from({ length: CLIENTS }, () =>
        runBurst(lab.client, lab.paths[0].serverAddress, PORT, {
          count: Math.ceil(size / CLIENTS),
          keepEvery: size,
          seconds: 60,
        })),
    );
    const seconds = (performance.now() - started) / 1000;
    await Promise.all(bursts.map((b) => b.stop()));
    await new Promise((r) => setTimeout(r, 1000));
    const monitored = monitor.events - seen;
    const after = await settled(statusFile, totalEvents(before), monitored);
    rows.push({
      size,
      seconds,
      offered: monitored / seconds,
      monitor: monitored,
      agent: totalEvents(after) - totalEvents(before),
      overflows: after.overflows - before.overflows,
      resyncs: after.resyncs - before.resyncs,
    });
  }
  if (monitor.overflows) console.log(`note: the monitor itself overflowed ${monitor.overflows}×`);
  report(rows);
}

/** Registered in `bench/run.ts`. */
export const benchmark: Benchmark = {
  name: "mptcp_agent_events",
  summary:
    "agent event throughput in bursts of 500–6,000 connections from 4 clients, vs a bystander monitor",
  run: throughput,
};
