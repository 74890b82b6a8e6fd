/**
 * Shared pieces of the TcpTuning kernel tests: the stack under test, the
 * congestion controls to compare, per-rule counters as `show` reports them,
 * and links on a cgroup as the kernel lists them.
 *
 * @module
 */
import assert from "node:assert/strict";
import { showStack, Stack, TcpTuning } from "../../mod.ts";
import type { TcpTuningSpecInput } from "../../resources/tcp_tuning.ts";
import { listLinks } from "../../providers/libbpf/info.ts";
import { type SocketReport, startProbe, type TtLab } from "./tcp_tuning_lab.ts";

/** The server port of the lab tests. */
export const PORT = 5201;

/**
 * A stack `kt` with one TcpTuning `tune` on the lab's cgroup (or `cgroup`).
 *
 * @example One rule on the lab cgroup
 * ```ts
 * const stack = stackFor(lab, [{ set: { congestion: "cubic" } }]);
 * ```
 */
export function stackFor(
  lab: TtLab,
  rules: TcpTuningSpecInput["rules"],
  cgroup = lab.cgroup,
): Stack {
  return new Stack("kt", [new TcpTuning("tune", { cgroup, rules })]);
}

/**
 * The system default in the client netns and an available algorithm that
 * differs from it (the host default is bbr; cubic is not assumed).
 *
 * @example Picking an algorithm to set
 * ```ts
 * const { base, other } = await congestionPair(lab);
 * ```
 */
export async function congestionPair(lab: TtLab): Promise<{ base: string; other: string }> {
  const base = (await lab.client.exec(["sysctl", "-n", "net.ipv4.tcp_congestion_control"])).trim();
  const available = Deno.readTextFileSync("/proc/sys/net/ipv4/tcp_available_congestion_control")
    .trim().split(/\s+/);
  const other = ["cubic", "reno", ...available].find((cc) => cc !== base && available.includes(cc));
  assert.ok(other, `need a second congestion control besides ${base}`);
  return { base, other };
}

/** One rule's counters as `show` reports them. */
export interface RuleCounters {
  matched: number;
  applied: number;
  sampledOut: number;
  errors: number;
}

/**
 * Per-rule counters of the stack's only resource, through `showStack`.
 *
 * @example The first rule's counters
 * ```ts
 * const [first] = await counters(lab, stack);
 * ```
 */
export async function counters(lab: TtLab, stack: Stack): Promise<RuleCounters[]> {
  const [shown] = await showStack(stack, lab.store);
  return (shown.details as { rules: RuleCounters[] }).rules;
}

/**
 * Links attached to a cgroup directory, as the kernel lists them.
 *
 * @example Counting links on the cgroup
 * ```ts
 * assert.equal(linksOnPath(lab.cgroup), 1);
 * ```
 */
export function linksOnPath(cgroup: string): number {
  const id = BigInt(Deno.statSync(cgroup).ino!);
  return listLinks().filter((l) => l.cgroupId === id).length;
}

/** Links attached to the lab's cgroup. */
export function linksOn(lab: TtLab): number {
  return linksOnPath(lab.cgroup);
}

/**
 * One connection to host:PORT from the client netns, inside `cgroup`.
 *
 * @example A connection from inside the cgroup
 * ```ts
 * const socket = await connectFrom(lab, lab.cgroup, TT.matching);
 * ```
 */
export async function connectFrom(lab: TtLab, cgroup: string, host: string): Promise<SocketReport> {
  const p = startProbe(lab.client.name, cgroup, "connect", { host, port: PORT });
  const [line] = await p.waitFor(1);
  await p.stop();
  return line;
}
