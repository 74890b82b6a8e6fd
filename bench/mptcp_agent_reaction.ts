/**
 * How fast the programmable path manager's agent opens a connection's extra
 * subflow, against the in-kernel PM doing the same in the same lab and run.
 *
 * Both candidates give each connection one extra subflow from the client's
 * second address (10.1.3.1) to the server's address: the kernel PM through a
 * `subflow` endpoint, the agent through the builtin `fullmesh` policy with
 * that address as its only local. A packet sniffer in the client netns
 * times each connection from the server's last packet on the initial
 * subflow (the one that makes the connection fully established: the kernel
 * emits ESTABLISHED and its PM acts right then) to the client's MP_JOIN SYN,
 * with kernel timestamps (SO_TIMESTAMPNS). The join's own handshake, the
 * same for both, is left out, and so is any reader's wake-up: an event
 * reader's clock would show the in-kernel PM at ~0, its join already queued
 * behind the ESTABLISHED it reads. Blocks alternate
 * (kernel, agent, kernel, agent …) so drift hits both alike. The output is
 * medians and p99 and the agent/kernel ratio of the medians (goal ≤ 1.5×).
 *
 *     deno task bench --only mptcp_agent_reaction
 *
 * Knobs: SF_BENCH_AGENT_CONNS (connections per block, default 40),
 * SF_BENCH_AGENT_BLOCKS (blocks per candidate, default 3).
 *
 * @module
 */
import { setupTwoPathLab, type TwoPathLab } from "../lab/two_path_lab.ts";
import { setKernelPm, setUserspacePm, startHoldingServer } from "../lab/mptcp_burst.ts";
import { addEndpoint, flushEndpoints, setLimits } from "../providers/netlink/mptcp_pm.ts";
import { type AgentIdentity, startAgent, stopAgent } from "../providers/mptcp_agent/mod.ts";
import type { PathManagerAgentParams } from "../providers/mptcp_agent/policy_spec.ts";
import {
  type BenchContext,
  type Benchmark,
  formatRatio,
  formatTable,
  summarize,
} from "./harness.ts";
import { runSequentialClients, startJoinSniffer } from "./mptcp_agent_kit.ts";

const CONNS = Number(Deno.env.get("SF_BENCH_AGENT_CONNS") ?? 40);
const BLOCKS = Number(Deno.env.get("SF_BENCH_AGENT_BLOCKS") ?? 3);
const PORT = 7300;
const GOAL = 1.5;

type Candidate = "kernel PM" | "agent";

/** Enters a candidate's mode in the client netns; returns how to leave it. */
async function enter(lab: TwoPathLab, who: Candidate, dir: string): Promise<() => Promise<void>> {
  const netns = lab.client.path;
  const second = lab.paths[1].clientAddress;
  flushEndpoints(netns);
  if (who === "kernel PM") {
    setKernelPm(netns);
    addEndpoint({ address: second, flags: ["subflow"] }, netns);
    return () => Promise.resolve(flushEndpoints(netns));
  }
  setUserspacePm(netns);
  const params: PathManagerAgentParams = {
    policy: { builtin: "fullmesh" },
    locals: [{ address: second, id: 2 }],
  };
  const agent: AgentIdentity = await startAgent({
    kind: "path_manager",
    name: "bench",
    netns,
    statusFile: `${dir}/agent.json`,
    params,
  });
  return async () => void await stopAgent(agent);
}

/** One block: `CONNS` sequential connections, each one's reaction time in ms (kernel timestamps). */
async function block(lab: TwoPathLab, who: Candidate, dir: string): Promise<number[]> {
  const leave = await enter(lab, who, dir);
  try {
    const sniffer = await startJoinSniffer(lab.client, PORT, CONNS * 4 + 30);
    await runSequentialClients(lab.client, lab.paths[0].serverAddress, PORT, CONNS);
    return await sniffer.stop();
  } finally {
    await leave();
  }
}

function p99(samples: number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.99) - 1)];
}

function report(results: Record<Candidate, number[]>, missed: Record<Candidate, number>): void {
  const row = (who: Candidate) => {
    const s = summarize(results[who]);
    return [
      who,
      s.median.toFixed(2),
      p99(results[who]).toFixed(2),
      s.min.toFixed(2),
      `${s.n}`,
      `${missed[who]}`,
    ];
  };
  console.log(formatTable([
    ["fully established → MP_JOIN SYN out, ms", "median", "p99", "min", "n", "no subflow"],
    row("kernel PM"),
    row("agent"),
  ]));
  const ratio = summarize(results.agent).median / summarize(results["kernel PM"]).median;
  const verdict = ratio <= GOAL ? "MET" : "MISSED";
  console.log(
    `ratio agent/kernel PM (medians): ${formatRatio(ratio)} — ${verdict} (goal ≤ ${GOAL}×)`,
  );
}

async function reaction(ctx: BenchContext): Promise<void> {
  const lab = await setupTwoPathLab({ prefix: "sf-bench-pm", cleanupOnSigint: false });
  ctx.cleanup.defer("two-path lab", () => lab.teardown());
  const dir = await Deno.makeTempDir({ prefix: "sf-bench-agent-" });
  ctx.cleanup.defer("agent dir", () => Deno.remove(dir, { recursive: true }));
  for (const ns of [lab.client.path, lab.server.path]) {
    setLimits({ subflows: 4, addAddrAccepted: 4 }, ns);
  }
  const server = await startHoldingServer(lab.server, "0.0.0.0", PORT, 900);
  ctx.cleanup.defer("holding server", () => server.stop());
  const results: Record<Candidate, number[]> = { "kernel PM": [], agent: [] };
  const missed: Record<Candidate, number> = { "kernel PM": 0, agent: 0 };
  for (let i = 0; i < BLOCKS; i++) {
    for (const who of ["kernel PM", "agent"] as const) {
      const got = await block(lab, who, dir);
      results[who].push(...got);
      missed[who] += CONNS - got.length;
      console.log(`block ${i + 1}/${BLOCKS} ${who}: ${got.length}/${CONNS} with a subflow`);
    }
  }
  report(results, missed);
}

/** Registered in `bench/run.ts`. */
export const benchmark: Benchmark = {
  name: "mptcp_agent_reaction",
  summary: "agent (fullmesh policy) vs in-kernel PM: ESTABLISHED → extra subflow, median and p99",
  run: reaction,
};
