/**
 * The two-path lab set up for subflow roles and failover: the client in
 * userspace-PM mode with a `fullmesh` path-manager agent (so every
 * connection gets a subflow per path: 10.1.2.1 and 10.1.3.1 to the server),
 * a `scheduler` agent started for real with {@linkcode startAgent}, a way to
 * blackhole a path (its qdisc on both ends swapped for `blackhole`, which
 * drops every packet silently, and back to the lab's `tbf`) or degrade it
 * (a slow `tbf` with a deep queue), and what the
 * kernel says about each path: bytes sent (interface counters) and the
 * subflows' local backup flags (`ss -ti`, flag `b`). Nothing here reads the
 * agent's own view.
 *
 * @module
 */
import { run } from "./command.ts";
import { inNetnsArgv } from "./command.ts";
import { CleanupStack } from "./netns_kit.ts";
import { readInterfaceCounters } from "./subflows.ts";
import { setupTwoPathLab, type TwoPathLab } from "./two_path_lab.ts";
import { setUserspacePm } from "./mptcp_burst.ts";
import { setLimits } from "../providers/netlink/mptcp_pm.ts";
import type { AgentIdentity, AgentLaunch } from "../providers/mptcp_agent/identity.ts";
import { startAgent, stopAgent } from "../providers/mptcp_agent/process.ts";
import type { SchedulerAgentParams } from "../providers/mptcp_agent/roles_spec.ts";

/** Rate of each lab path: both paths filled with little CPU. */
export const ROLES_LAB_MBIT = 20;

/** A built roles lab; `teardown()` stops its agents and removes everything. */
export interface RolesLab {
  /** The two-path lab (client in userspace-PM mode). */
  lab: TwoPathLab;
  /** Where the agents' status, launch and log files live. */
  dir: string;
  /** How long an agent's start may take, ms (the default, or longer for a slow VM). */
  agentReadyMs?: number;
  /** Registers an undo action run by `teardown()` (newest first). */
  defer(label: string, undo: () => Promise<void> | void): void;
  /** Stops the agents and removes the lab and the directory. */
  teardown(): Promise<void>;
}

/** A running agent of the lab. */
export type LabAgent = AgentLaunch & { id: AgentIdentity };

async function agent(
  stack: CleanupStack,
  launch: AgentLaunch,
  readyMs?: number,
): Promise<LabAgent> {
  const id = await startAgent(launch, readyMs);
  stack.defer(`stop agent ${launch.name}`, async () => void await stopAgent(id, 1000));
  return { ...launch, id };
}

/**
 * Builds the lab with the client's fullmesh agent running; a failure
 * removes what was built. `agentReadyMs` bounds each agent's start (a VM
 * under TCG needs longer than the default).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function withRolesLab(use: (roles: RolesLab) => Promise<void>): Promise<void> {
 *   const roles = await setupRolesLab("sf-roles");
 *   try { await use(roles); } finally { await roles.teardown(); }
 * }
 * ```
 */
export async function setupRolesLab(
  prefix: string,
  opts: { agentReadyMs?: number } = {},
): Promise<RolesLab> {
  const stack = new CleanupStack();
  try {
    const lab = await setupTwoPathLab({ prefix, rateMbit: ROLES_LAB_MBIT, cleanupOnSigint: false });
    stack.defer("lab teardown", () => lab.teardown());
    setUserspacePm(lab.client.path);
    setLimits({ subflows: 8, addAddrAccepted: 8 }, lab.server.path);
    const dir = await Deno.makeTempDir({ prefix: `${prefix}-` });
    stack.defer("remove agent dir", () => Deno.remove(dir, { recursive: true }));
    await agent(stack, {
      kind: "path_manager",
      name: "mesh",
      netns: lab.client.path,
      statusFile: `${dir}/mesh.json`,
      params: {
        policy: { builtin: "fullmesh" },
        locals: [{ address: lab.paths[1].clientAddress, id: 2 }],
      },
    }, opts.agentReadyMs);
    return {
      lab,
      dir,
      agentReadyMs: opts.agentReadyMs,
      defer: (label, undo) => stack.defer(label, undo),
      teardown: () => stack.cleanup(),
    };
  } catch (err) {
    await stack.cleanup();
    throw err;
  }
}

/**
 * The scheduler params of the lab: path A (`veth-a`) active, path B
 * (`veth-b`) with role `b`, and the failover rule when given.
 *
 * @example Path B backup, promoted when path A's RTT passes 300 ms
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { TwoPathLab } from "./two_path_lab.ts";
 *
 * function params(lab: TwoPathLab) {
 *   return labRoles(lab, "backup", { when: { rttMsAbove: 300 }, promote: "veth-b" });
 * }
 * ```
 */
export function labRoles(
  lab: TwoPathLab,
  b: "active" | "backup",
  failover?: SchedulerAgentParams["failover"],
): SchedulerAgentParams {
  const [pa, pb] = lab.paths;
  return {
    paths: [
      { name: pa.dev, locals: [pa.clientAddress], role: "active" },
      { name: pb.dev, locals: [pb.clientAddress], role: b },
    ],
    failover,
  };
}

/**
 * Starts a `scheduler` agent in the lab's client; `stop()` stops it, and so
 * does the lab's teardown (a failed test leaves no agent).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function start(roles: RolesLab) {
 *   return await startRolesAgent(roles, labRoles(roles.lab, "backup"));
 * }
 * ```
 */
export async function startRolesAgent(
  roles: RolesLab,
  params: SchedulerAgentParams,
): Promise<LabAgent & { stop(): Promise<void> }> {
  const launch: AgentLaunch = {
    kind: "scheduler",
    name: "roles",
    netns: roles.lab.client.path,
    statusFile: `${roles.dir}/roles.json`,
    params,
  };
  const id = await startAgent(launch, roles.agentReadyMs);
  const stop = async () => void await stopAgent(id, 1000);
  roles.defer("stop agent roles", stop);
  return { ...launch, id, stop };
}

/**
 * Blackholes path `index` both ways (every packet dropped silently, as a
 * dead link would), or gives it back its shaped `tbf`.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { TwoPathLab } from "./two_path_lab.ts";
 *
 * async function cutPathA(lab: TwoPathLab): Promise<void> {
 *   await setBlackhole(lab, 0, true);
 * }
 * ```
 */
export async function setBlackhole(lab: TwoPathLab, index: 0 | 1, on: boolean): Promise<void> {
  await setPathQdisc(lab, index, on ? ["blackhole"] : labTbf(lab.rateMbit, 50));
}

/** Rate of a degraded path ({@linkcode setDegraded}), Mbit/s. */
export const DEGRADED_MBIT = 1;
/** Queue of a degraded path: a `tbf` that holds this many ms of data before it drops. */
export const DEGRADED_QUEUE_MS = 500;

/**
 * Degrades path `index` both ways: live, but at {@linkcode DEGRADED_MBIT}
 * behind a {@linkcode DEGRADED_QUEUE_MS} queue, so its RTT climbs to about
 * that queue once it carries more than it can send; `false` gives it back
 * the lab's rate.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { TwoPathLab } from "./two_path_lab.ts";
 *
 * async function degradePathA(lab: TwoPathLab): Promise<void> {
 *   await setDegraded(lab, 0, true);
 * }
 * ```
 */
export async function setDegraded(lab: TwoPathLab, index: 0 | 1, on: boolean): Promise<void> {
  const tbf = on ? labTbf(DEGRADED_MBIT, DEGRADED_QUEUE_MS) : labTbf(lab.rateMbit, 50);
  await setPathQdisc(lab, index, tbf);
}

/**
 * Throttles path `index` both ways to `mbit` behind the lab's usual short
 * (50 ms) `tbf` queue: slow, but without the deep queue of
 * {@linkcode setDegraded}; {@linkcode ROLES_LAB_MBIT} gives it back.
 *
 * @example Path A at 1 Mbit/s
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { TwoPathLab } from "./two_path_lab.ts";
 *
 * async function throttleA(lab: TwoPathLab): Promise<void> {
 *   await setPathRate(lab, 0, 1);
 * }
 * ```
 */
export async function setPathRate(lab: TwoPathLab, index: 0 | 1, mbit: number): Promise<void> {
  await setPathQdisc(lab, index, labTbf(mbit, 50));
}

const labTbf = (mbit: number, latencyMs: number) => [
  "tbf",
  "rate",
  `${mbit}mbit`,
  "burst",
  "32kbit",
  "latency",
  `${latencyMs}ms`,
];

async function setPathQdisc(lab: TwoPathLab, index: 0 | 1, qdisc: string[]): Promise<void> {
  const dev = lab.paths[index].dev;
  for (const ns of [lab.client, lab.server]) {
    await run(inNetnsArgv(ns.name, ["tc", "qdisc", "replace", "dev", dev, "root", ...qdisc]));
  }
}

/**
 * Bytes the client sent on each path so far (its veths' tx counters, after
 * the shaper).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { TwoPathLab } from "./two_path_lab.ts";
 *
 * function sent(lab: TwoPathLab): number {
 *   const [a, b] = pathTxBytes(lab);
 *   return a + b;
 * }
 * ```
 */
export function pathTxBytes(lab: TwoPathLab): [number, number] {
  const c = readInterfaceCounters(lab.client.path);
  return [c[lab.paths[0].dev]?.txBytes ?? 0, c[lab.paths[1].dev]?.txBytes ?? 0];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How long after `since` (a `performance.now()`) path `index` first carried
 * 80 % of the lab's rate over a 200 ms window (its tx counter polled every
 * ~20 ms), in ms; undefined when that did not happen within `ms`.
 *
 * @example Failover time after blackholing path A
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { TwoPathLab } from "./two_path_lab.ts";
 *
 * async function failover(lab: TwoPathLab) {
 *   const t0 = performance.now();
 *   await setBlackhole(lab, 0, true);
 *   return await resumeTime(lab, 1, t0, 5000);
 * }
 * ```
 */
export async function resumeTime(
  lab: TwoPathLab,
  index: 0 | 1,
  since: number,
  ms: number,
): Promise<number | undefined> {
  const goal = 0.8 * lab.rateMbit * 1e6 / 8; // bytes per second
  const window: [number, number][] = [];
  while (performance.now() - since < ms) {
    window.push([performance.now(), pathTxBytes(lab)[index]]);
    while (window.length > 1 && window.at(-1)![0] - window[0][0] > 200) window.shift();
    const [t0, b0] = window[0];
    const [t1, b1] = window.at(-1)!;
    if (t1 - t0 >= 150 && (b1 - b0) / ((t1 - t0) / 1000) >= goal) return t1 - since;
    await sleep(20);
  }
  return undefined;
}

/**
 * The client's subflows' local backup flags by local address, from `ss -tinH`
 * (flag `b`: we asked the peer to treat the subflow as backup).
 *
 * @example Every subflow from path B is backup
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { TwoPathLab } from "./two_path_lab.ts";
 *
 * async function pathBBackup(lab: TwoPathLab) {
 *   return (await backupFlags(lab)).get("10.1.3.1")?.every((b) => b);
 * }
 * ```
 */
export async function backupFlags(lab: TwoPathLab): Promise<Map<string, boolean[]>> {
  const text = await run(inNetnsArgv(lab.client.name, ["ss", "-tinH", "state", "established"]));
  return parseBackupFlags(text);
}

/**
 * Parses `ss -tinH` output into local address → the local backup flag of
 * each MPTCP subflow from it. Pure.
 *
 * @example
 * ```ts
 * parseBackupFlags("0 0 10.1.3.1:4000 10.1.2.2:5201\n\t tcp-ulp-mptcp flags:Jjecvb token:…");
 * // Map { "10.1.3.1" => [true] }
 * ```
 */
export function parseBackupFlags(text: string): Map<string, boolean[]> {
  const out = new Map<string, boolean[]>();
  const lines = text.split("\n");
  for (let i = 0; i + 1 < lines.length; i++) {
    const flags = /tcp-ulp-mptcp flags:(\w+)/.exec(lines[i + 1]);
    if (!flags) continue;
    const head = lines[i].trim().split(/\s+/);
    const local = (head.at(-2) ?? "").replace(/:\d+$/, "").replace(/%\S+$/, "");
    out.set(local, [...(out.get(local) ?? []), flags[1].includes("b")]);
  }
  return out;
}
