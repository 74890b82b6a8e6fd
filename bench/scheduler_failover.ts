/**
 * Failover time: from blackholing the active path in the middle of an MPTCP
 * transfer until the backup path carries 80 % of its rate, with sockform's
 * scheduler agent against the kernel alone, side by side in one run.
 *
 * - **agent**: the client in userspace-PM mode, a fullmesh agent giving each
 *   connection a subflow per path, and the scheduler agent keeping path B
 *   backup with the failover rule `{ when: { rttMsAbove: 300 }, promote: "veth-b" }`
 *   (which also demotes path A and holds it down; the agent is reloaded
 *   before each run so the rule starts afresh).
 * - **kernel**: the in-kernel PM with path B's address as a `subflow backup`
 *   endpoint (what a static backup is without sockform): the kernel's own
 *   stale-subflow detection decides when to use the backup.
 *
 * Each candidate has its own two-path lab (20 Mbit/s per path); runs
 * alternate (kernel, agent, kernel, agent …) so drift hits both alike. In
 * each run an iperf3 transfer goes client → server, path A is blackholed
 * (qdisc `blackhole` on both ends) once it has carried the transfer for
 * 2 s, and path B's tx counter is polled every ~20 ms until its rate over
 * 200 ms reaches 80 % of the path rate (given up after 6 s: counted as
 * "not resumed"). Then path A comes back and the transfer ends. The output
 * is the median, min and max per candidate and the ratio of the medians
 * (goals: agent median ≤ 1 s and no slower than the kernel).
 *
 *     deno task bench --only scheduler_failover
 *
 * Knob: SF_BENCH_FAILOVER_RUNS (runs per candidate, default 5).
 *
 * @module
 */
import { setupTwoPathLab, type TwoPathLab } from "../lab/two_path_lab.ts";
import { runTransfer } from "../lab/mptcp_transfer.ts";
import {
  type LabAgent,
  labRoles,
  pathTxBytes,
  resumeTime,
  ROLES_LAB_MBIT,
  setBlackhole,
  setupRolesLab,
  startRolesAgent,
} from "../lab/path_roles.ts";
import { addEndpoint, setLimits } from "../providers/netlink/mptcp_pm.ts";
import { readAgentStatus } from "../providers/mptcp_agent/status.ts";
import { reloadAgent } from "../providers/mptcp_agent/process.ts";
import type { RolesCounters } from "../providers/mptcp_agent/roles.ts";
import {
  type BenchContext,
  type Benchmark,
  formatRatio,
  formatTable,
  summarize,
} from "./harness.ts";

const RUNS = Number(Deno.env.get("SF_BENCH_FAILOVER_RUNS") ?? 5);
const GIVE_UP_MS = 6000;
const GOAL_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Candidate = "kernel" | "agent";

/** The kernel alone: in-kernel PM, path B a `subflow backup` endpoint. */
async function kernelLab(ctx: BenchContext): Promise<TwoPathLab> {
  const lab = await setupTwoPathLab({
    prefix: "sf-bfo-k",
    rateMbit: ROLES_LAB_MBIT,
    cleanupOnSigint: false,
  });
  ctx.cleanup.defer("kernel lab", () => lab.teardown());
  for (const ns of [lab.client.path, lab.server.path]) setLimits({ subflows: 2 }, ns);
  const b = lab.paths[1];
  addEndpoint({ address: b.clientAddress, id: 2, flags: ["subflow", "backup"] }, lab.client.path);
  return lab;
}

/** Waits (bounded) until path A has carried the transfer at half its rate or more for 500 ms. */
async function pathAFlowing(lab: TwoPathLab): Promise<void> {
  const deadline = performance.now() + 8000;
  let [last] = pathTxBytes(lab);
  while (performance.now() < deadline) {
    await sleep(500);
    const [a] = pathTxBytes(lab);
    if ((a - last) * 2 * 8 >= 0.5 * lab.rateMbit * 1e6) return;
    last = a;
  }
  throw new Error("path A never carried the transfer");
}

/** One run: transfer, blackhole A, time B to 80 %, give A back. */
async function failover(lab: TwoPathLab): Promise<number | undefined> {
  const transfer = runTransfer({
    client: lab.client,
    server: lab.server,
    serverAddress: lab.paths[0].serverAddress,
    mptcp: true,
    seconds: 10,
    sampleEveryMs: 0,
  });
  const settled = transfer.catch((err) => err);
  try {
    await pathAFlowing(lab);
    await sleep(1500);
    const since = performance.now();
    await setBlackhole(lab, 0, true);
    return await resumeTime(lab, 1, since, GIVE_UP_MS);
  } finally {
    await setBlackhole(lab, 0, false);
    const result = await settled;
    if (result instanceof Error) console.log(`  transfer: ${result.message}`);
  }
}

/**
 * Reloads the agent (SIGHUP: the rule starts afresh, unpromoted, with its
 * base hold-down) and waits (bounded) until path B is backup again, so each
 * run starts alike: without it a run could start while the previous run's
 * hold-down still keeps path A backup, or on probation.
 */
async function freshRule(sched: LabAgent): Promise<void> {
  await reloadAgent(sched.id, sched);
  const statusFile = sched.statusFile;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const c = readAgentStatus(statusFile)?.handlerCounters as RolesCounters | undefined;
    if (c?.paths["veth-b"]?.effective === "backup") return;
    await sleep(200);
  }
}

function report(results: Record<Candidate, number[]>, missed: Record<Candidate, number>): void {
  const row = (who: Candidate) => {
    if (!results[who].length) return [who, "-", "-", "-", "0", `${missed[who]}`];
    const s = summarize(results[who]);
    const f = (ms: number) => ms.toFixed(0);
    return [who, f(s.median), f(s.min), f(s.max), `${s.n}`, `${missed[who]}`];
  };
  console.log(formatTable([
    ["blackhole → backup at 80 % of its rate, ms", "median", "min", "max", "n", "not resumed"],
    row("kernel"),
    row("agent"),
  ]));
  if (!results.agent.length || !results.kernel.length) {
    return console.log("no ratio: a candidate never resumed");
  }
  const agent = summarize(results.agent).median;
  const ratio = agent / summarize(results.kernel).median;
  const verdict = agent <= GOAL_MS && ratio <= 1 ? "MET" : "MISSED";
  console.log(
    `ratio agent/kernel (medians): ${
      formatRatio(ratio)
    } — ${verdict} (goal ≤ ${GOAL_MS} ms and ≤ 1×)`,
  );
}

async function bench(ctx: BenchContext): Promise<void> {
  const roles = await setupRolesLab("sf-bfo-a");
  ctx.cleanup.defer("agent lab", () => roles.teardown());
  const rule = { when: { rttMsAbove: 300 }, promote: roles.lab.paths[1].dev };
  const sched = await startRolesAgent(roles, labRoles(roles.lab, "backup", rule));
  const labs: Record<Candidate, TwoPathLab> = { kernel: await kernelLab(ctx), agent: roles.lab };
  const results: Record<Candidate, number[]> = { kernel: [], agent: [] };
  const missed: Record<Candidate, number> = { kernel: 0, agent: 0 };
  for (let i = 0; i < RUNS; i++) {
    for (const who of ["kernel", "agent"] as const) {
      if (who === "agent") await freshRule(sched);
      const ms = await failover(labs[who]);
      if (ms === undefined) missed[who]++;
      else results[who].push(ms);
      console.log(
        `run ${i + 1}/${RUNS} ${who}: ${ms === undefined ? "not resumed" : `${ms.toFixed(0)} ms`}`,
      );
    }
  }
  report(results, missed);
}

/** Registered in `bench/run.ts`. */
export const benchmark: Benchmark = {
  name: "scheduler_failover",
  summary: "failover to the backup path: scheduler agent's rule vs the kernel alone, median",
  run: bench,
};
