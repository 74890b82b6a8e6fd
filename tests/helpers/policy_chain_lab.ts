/**
 * The two-path lab set up for PolicyChain tests: in-kernel PMs on both
 * sides, a private bpffs state root, a holding server, MPTCP counters read
 * from the kernel (/proc/net/netstat of a netns) and the subflows of the
 * client's connections.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Stack } from "../../engine/stack.ts";
import { kernelStore } from "../../providers/state/kernel_store.ts";
import type { StateStore } from "../../engine/store.ts";
import { PolicyChain, type PolicyChainSpecInput } from "../../resources/policy_chain.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { LAB_PATHS, setupTwoPathLab, type TwoPathLab } from "../../lab/two_path_lab.ts";
import { groupByConnection, listSubflows, type MptcpConnectionStat } from "../../lab/subflows.ts";
import { runBurst, startHoldingServer } from "../../lab/mptcp_burst.ts";
import { inNetns } from "../../providers/system/netns.ts";

/** A built chain lab. */
export interface ChainLab {
  lab: TwoPathLab;
  store: StateStore;
  /** The private state root. */
  root: string;
  /** The holding server's port on the server (all addresses). */
  port: number;
}

/** The stack name every chain test uses. */
export const STACK = "pc";

/**
 * Builds the lab, runs `fn`, and removes everything (stack, lab, bpffs) even on failure.
 *
 * @example
 * ```ts
 * await withChainLab("sf-pc", async (c) => { ... });
 * ```
 */
export async function withChainLab(prefix: string, fn: (c: ChainLab) => Promise<void>) {
  const bpffs = privateBpffs();
  let lab: TwoPathLab | null = null;
  let holding: { stop(): Promise<void> } | null = null;
  try {
    lab = await setupTwoPathLab({ prefix, cleanupOnSigint: false });
    const port = 7400;
    holding = await startHoldingServer(lab.server, "0.0.0.0", port, 120);
    const c = { lab, store: kernelStore(bpffs.root), root: bpffs.root, port };
    try {
      await fn(c);
    } finally {
      await destroyChains(c);
    }
  } finally {
    await holding?.stop();
    await lab?.teardown();
    bpffs.cleanup();
  }
}

async function destroyChains(c: ChainLab) {
  const { destroyStack } = await import("../../engine/session.ts");
  await destroyStack(new Stack(STACK, []), c.store).catch(() => {});
}

/**
 * A stack with one chain named `chain` in the client netns.
 *
 * @example
 * ```ts
 * chainStack(c, { attach: [{ dev: "veth-a", hooks: ["ingress"] }], rules: [] });
 * ```
 */
export function chainStack(c: ChainLab, spec: Omit<PolicyChainSpecInput, "netns">): Stack {
  return new Stack(STACK, [new PolicyChain("chain", { netns: c.lab.client.path, ...spec })]);
}

/** The resource directory of the chain. */
export function chainDir(c: ChainLab): string {
  return `${c.root}/${STACK}/chain`;
}

/**
 * The MPTcpExt counters of a netns, by name without the prefix.
 *
 * @example
 * ```ts
 * (mptcpCounters(lab.client.path)).AddAddr;
 * ```
 */
export function mptcpCounters(netns: string): Record<string, number> {
  const text = inNetns(netns, () => Deno.readTextFileSync("/proc/thread-self/net/netstat"));
  const lines = text.split("\n").filter((l) => l.startsWith("MPTcpExt:"));
  if (lines.length < 2) throw new Error("no MPTcpExt counters in /proc/net/netstat");
  const names = lines[0].split(/\s+/).slice(1);
  const values = lines[1].split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, values[i]]));
}

/**
 * Counters that grew between two readings (name → increase).
 *
 * @example
 * ```ts
 * grown(before, mptcpCounters(ns));
 * ```
 */
export function grown(before: Record<string, number>, after: Record<string, number>) {
  return Object.fromEntries(
    Object.entries(after).filter(([k, v]) => v !== (before[k] ?? 0)).map(([k, v]) => [
      k,
      v - (before[k] ?? 0),
    ]),
  );
}

/** Fallback counters that grew, on both sides. */
export function fallbacks(before: Record<string, number>, after: Record<string, number>) {
  return Object.entries(grown(before, after)).filter(([k]) => /Fallback/i.test(k));
}

/**
 * The client's MPTCP connections to the lab server's path-A address on `port`.
 *
 * @example
 * ```ts
 * const conns = await clientConnections(c);
 * ```
 */
export async function clientConnections(
  c: ChainLab,
  port = c.port,
): Promise<MptcpConnectionStat[]> {
  const all = groupByConnection(await listSubflows(c.lab.client.name));
  return all.filter((conn) =>
    conn.subflows.some((s) => s.remotePort === port || s.remote === LAB_PATHS[1].serverAddress)
  );
}

/** Sleeps `ms`. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits (bounded) until `read` stops changing for `quietMs`; returns its last value.
 *
 * @example
 * ```ts
 * await settled(() => mptcpCounters(ns).AddAddrTx, 2500, 15_000);
 * ```
 */
export async function settled(read: () => number, quietMs: number, maxMs: number) {
  const deadline = Date.now() + maxMs;
  let last = read();
  let since = Date.now();
  while (Date.now() < deadline) {
    await sleep(200);
    const now = read();
    if (now !== last) [last, since] = [now, Date.now()];
    else if (Date.now() - since >= quietMs) return last;
  }
  throw new Error(`still changing after ${maxMs} ms (last ${last})`);
}

/**
 * Opens `count` MPTCP connections to the lab's server over path A, kept open; waits `settleMs`
 * for their subflows; returns each connection's subflow count, sorted.
 *
 * @example
 * ```ts
 * assert.deepEqual(await keptConnections(c, 2, 1000), [2, 2]);
 * ```
 */
export async function keptConnections(
  c: ChainLab,
  count: number,
  settleMs: number,
): Promise<number[]> {
  const burst = await runBurst(c.lab.client, LAB_PATHS[0].serverAddress, c.port, {
    count,
    keepEvery: 1,
    seconds: 30,
  });
  try {
    assert.equal(burst.failed, 0, "every connection was made");
    await sleep(settleMs);
    const conns = (await clientConnections(c)).filter((conn) =>
      conn.subflows.some((s) => burst.keptPorts.includes(s.localPort))
    );
    assert.equal(conns.length, count, "every kept connection is MPTCP");
    return conns.map((conn) => conn.subflows.length).sort();
  } finally {
    await burst.stop();
  }
}
