/**
 * Failover time: from blackholing the active path in the middle of an MPTCP
 * transfer until the backup path carries 80 % of its rate, with sockform's
 * scheduler agent against the kernel alone, pair by pair in one run.
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
 * Each candidate has its own two-path lab (20 Mbit/s per path). Runs come in
 * pairs, kernel then agent, so load drift hits both halves of a pair alike;
 * the figure of merit is the median of the per-pair ratios agent/kernel,
 * with their min, max and interquartile range. In each run an iperf3
 * transfer goes client → server, path A is blackholed (qdisc `blackhole` on
 * both ends) once it has carried the transfer for 2 s, and path B's tx
 * counter is polled every ~20 ms: *detect* is when its rate over 200 ms
 * first reaches 20 % of the path rate (B has started carrying), *resume*
 * when it reaches 80 % (given up after 6 s: "not resumed", and the pair
 * has no ratio). Each run also counts the client's TCP retransmission
 * timeouts (TcpExt TCPTimeouts) and MPTCP stale subflows (MPTcpExt
 * SubflowStale) during the failover, to say whether the kernel's side is
 * one RTO. Then path A comes back and the transfer ends.
 *
 *     deno task bench --only scheduler_failover
 *
 * Knob: SF_BENCH_FAILOVER_PAIRS (pairs, default 7).
 *
 * @module
 */
import { setupTwoPathLab, type TwoPathLab } from "../lab/two_path_lab.ts";
import { runTransfer } from "../lab/mptcp_transfer.ts";
import {
  type LabAgent,
  labRoles,
  pathTxBytes,
  ROLES_LAB_MBIT,
  setBlackhole,
  setupRolesLab,
  startRolesAgent,
} from "../lab/path_roles.ts";
import { addEndpoint, setLimits } from "../providers/netlink/mptcp_pm.ts";
import { inNetns } from "../providers/system/netns.ts";
import { readAgentStatus } from "../providers/mptcp_agent/status.ts";
import { reloadAgent } from "../providers/mptcp_agent/process.ts";
import type { RolesCounters } from "../providers/mptcp_agent/roles.ts";
import {
  type BenchContext,
  type Benchmark,
  formatRatio,
  formatTable,
  machineLoad,
  summarize,
} from "./harness.ts";

const PAIRS = Number(Deno.env.get("SF_BENCH_FAILOVER_PAIRS") ?? 7);
const GIVE_UP_MS = 6000;
const GOAL_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Candidate = "kernel" | "agent";

/** One failover: times from the blackhole (undefined: not within 6 s) and what the kernel counted. */
interface Run {
  /** B at 20 % of the path rate over 200 ms: it has started carrying. */
  detectMs?: number;
  /** B at 80 % of the path rate over 200 ms. */
  resumeMs?: number;
  /** The client's TCP retransmission timeouts during the failover (TcpExt TCPTimeouts). */
  rtos: number;
  /** The client's MPTCP stale subflows during the failover (MPTcpExt SubflowStale). */
  stale: number;
}

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

/** TcpExt TCPTimeouts and MPTcpExt SubflowStale of a netns (/proc/net/netstat). */
function rtoCounters(netns: string): { rtos: number; stale: number } {
  const text = inNetns(netns, () => Deno.readTextFileSync("/proc/thread-self/net/netstat"));
  const lines = text.split("\n");
  const value = (prefix: string, name: string) => {
    const rows = lines.filter((l) => l.startsWith(`${prefix}:`));
    const at = rows[0]?.split(/\s+/).indexOf(name) ?? -1;
    return at < 0 ? 0 : Number(rows[1].split(/\s+/)[at]);
  };
  return { rtos: value("TcpExt", "TCPTimeouts"), stale: value("MPTcpExt", "SubflowStale") };
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

/** Polls B's tx counter (~20 ms, bounded by GIVE_UP_MS) for the 20 % and 80 % marks after `since`. */
async function marks(lab: TwoPathLab, since: number): Promise<Pick<Run, "detectMs" | "resumeMs">> {
  const rate = lab.rateMbit * 1e6 / 8; // bytes per second
  const window: [number, number][] = [];
  let detectMs: number | undefined;
  while (performance.now() - since < GIVE_UP_MS) {
    window.push([performance.now(), pathTxBytes(lab)[1]]);
    while (window.length > 1 && window.at(-1)![0] - window[0][0] > 200) window.shift();
    const [[t0, b0], [t1, b1]] = [window[0], window.at(-1)!];
    const r = t1 - t0 >= 150 ? (b1 - b0) / ((t1 - t0) / 1000) : 0;
    if (detectMs === undefined && r >= 0.2 * rate) detectMs = t1 - since;
    if (r >= 0.8 * rate) return { detectMs, resumeMs: t1 - since };
    await sleep(20);
  }
  return { detectMs };
}

/** One run: transfer, blackhole A, time B's 20 % and 80 % marks, give A back. */
async function failover(lab: TwoPathLab): Promise<Run> {
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
    const before = rtoCounters(lab.client.path);
    const since = performance.now();
    await setBlackhole(lab, 0, true);
    const times = await marks(lab, since);
    const after = rtoCounters(lab.client.path);
    return { ...times, rtos: after.rtos - before.rtos, stale: after.stale - before.stale };
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

/** The quartiles of a sample (linear interpolation), for the ratios' IQR. */
function quartiles(xs: readonly number[]): [number, number] {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => {
    const i = p * (s.length - 1);
    return s[Math.floor(i)] + (s[Math.ceil(i)] - s[Math.floor(i)]) * (i - Math.floor(i));
  };
  return [q(0.25), q(0.75)];
}

const fmt = (ms: number | undefined) => ms === undefined ? "-" : ms.toFixed(0);

function sideRow(label: string, runs: readonly Run[], pick: (r: Run) => number | undefined) {
  const xs = runs.map(pick).filter((x): x is number => x !== undefined);
  if (!xs.length) return [label, "-", "-", "-", "0"];
  const s = summarize(xs);
  return [label, fmt(s.median), fmt(s.min), fmt(s.max), `${s.n}/${runs.length}`];
}

function report(pairs: readonly Record<Candidate, Run>[]): void {
  const side = (who: Candidate) => pairs.map((p) => p[who]);
  console.log(formatTable([
    ["from the blackhole, ms", "median", "min", "max", "n"],
    sideRow("kernel: B at 20 % (detect)", side("kernel"), (r) => r.detectMs),
    sideRow("kernel: B at 80 % (resume)", side("kernel"), (r) => r.resumeMs),
    sideRow("agent: B at 20 % (detect)", side("agent"), (r) => r.detectMs),
    sideRow("agent: B at 80 % (resume)", side("agent"), (r) => r.resumeMs),
  ]));
  for (const who of ["kernel", "agent"] as const) {
    const rtos = side(who).map((r) => r.rtos).join(" ");
    const stale = side(who).map((r) => r.stale).join(" ");
    console.log(`${who}: RTOs per run ${rtos}; stale subflows per run ${stale}`);
  }
  ratioLine("detect", pairs, (r) => r.detectMs);
  const r = ratioLine("resume", pairs, (r) => r.resumeMs);
  if (!r) return;
  const agent = summarize(side("agent").flatMap((x) => x.resumeMs ?? [])).median;
  const verdict = agent <= GOAL_MS && r.median <= 1 ? "MET" : "MISSED";
  console.log(`${verdict} (goal: agent median resume ≤ ${GOAL_MS} ms and per-pair ratio ≤ 1×)`);
}

/** Prints the per-pair ratios agent/kernel of one quantity: median, IQR, min, max. */
function ratioLine(
  what: string,
  pairs: readonly Record<Candidate, Run>[],
  pick: (r: Run) => number | undefined,
) {
  const ratios = pairs.filter((p) => pick(p.agent) && pick(p.kernel))
    .map((p) => pick(p.agent)! / pick(p.kernel)!);
  if (!ratios.length) return console.log(`${what}: no ratio: no pair where both got there`);
  const r = summarize(ratios);
  const [q1, q3] = quartiles(ratios);
  console.log(
    `per-pair ratio agent/kernel (${what}): median ${formatRatio(r.median)}, IQR ${
      formatRatio(q1)
    }–${formatRatio(q3)}, min ${formatRatio(r.min)}, max ${formatRatio(r.max)}, ${r.n} pairs`,
  );
  return r;
}

async function bench(ctx: BenchContext): Promise<void> {
  const roles = await setupRolesLab("sf-bfo-a");
  ctx.cleanup.defer("agent lab", () => roles.teardown());
  const rule = { when: { rttMsAbove: 300 }, promote: roles.lab.paths[1].dev };
  const sched = await startRolesAgent(roles, labRoles(roles.lab, "backup", rule));
  const labs: Record<Candidate, TwoPathLab> = { kernel: await kernelLab(ctx), agent: roles.lab };
  const pairs: Record<Candidate, Run>[] = [];
  console.log(`start: ${machineLoad()}`);
  for (let i = 0; i < PAIRS; i++) {
    const kernel = await failover(labs.kernel);
    await freshRule(sched);
    const agent = await failover(labs.agent);
    pairs.push({ kernel, agent });
    const show = (r: Run) =>
      `detect ${fmt(r.detectMs)} resume ${fmt(r.resumeMs)} ms, ${r.rtos} RTO, ${r.stale} stale`;
    console.log(`pair ${i + 1}/${PAIRS}: kernel ${show(kernel)} | agent ${show(agent)}`);
  }
  console.log(`end: ${machineLoad()}`);
  report(pairs);
}

/** Registered in `bench/run.ts`. */
export const benchmark: Benchmark = {
  name: "scheduler_failover",
  summary:
    "failover to the backup path: scheduler agent's rule vs the kernel alone, per-pair ratio",
  run: bench,
};
