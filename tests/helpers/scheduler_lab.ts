/**
 * The two-path lab set up for BPF MPTCP scheduler tests: the client announces its path-B
 * address as a subflow endpoint (id 2, backup or not), both ends accept two subflows,
 * and a transfer's bytes per path are read from the kernel's per-subflow TCP counters
 * (`bytes_acked` in `ss -ti`: each byte once, retransmissions not counted). Interface
 * counters are not used: under qemu TCG, retransmissions made them twice the data.
 *
 * @module
 */
import assert from "node:assert/strict";
import { setupTwoPathLab, type TwoPathLab } from "../../lab/two_path_lab.ts";
import { runTransfer, type TransferResult } from "../../lab/mptcp_transfer.ts";
import { run } from "../../lab/command.ts";
import {
  groupByConnection,
  listSubflows,
  type MptcpConnectionStat,
  type SubflowStat,
} from "../../lab/subflows.ts";
import { writeSysctl } from "../../providers/system/sysctl.ts";

/** Lab rate per path: low enough for qemu TCG to fill both paths. */
export const SCHED_LAB_MBIT = 20;

const ENDPOINT_B = "2";

/**
 * Builds the lab, runs `fn`, removes the lab even when `fn` throws.
 *
 * @example
 * ```ts
 * await withSchedulerLab(async (lab) => console.log(lab.client.name));
 * ```
 */
export async function withSchedulerLab(fn: (lab: TwoPathLab) => Promise<void>): Promise<void> {
  const lab = await setupTwoPathLab({ prefix: "sf-sched", rateMbit: SCHED_LAB_MBIT });
  try {
    for (const ns of [lab.client, lab.server]) {
      await run(["ip", "-n", ns.name, "mptcp", "limits", "set", "subflows", "2"]);
    }
    const b = lab.paths[1];
    await run([
      ...["ip", "-n", lab.client.name, "mptcp", "endpoint", "add", b.clientAddress],
      ...["id", ENDPOINT_B, "dev", b.dev, "subflow"],
    ]);
    await fn(lab);
  } finally {
    await lab.teardown();
  }
}

/**
 * Flags the client's path-B endpoint backup or not; connections made afterwards get a
 * path-B subflow with that flag.
 *
 * @example
 * ```ts
 * await setBackupB(lab, true);
 * ```
 */
export async function setBackupB(lab: TwoPathLab, backup: boolean): Promise<void> {
  await run([
    ...["ip", "-n", lab.client.name, "mptcp", "endpoint", "change", "id", ENDPOINT_B],
    backup ? "backup" : "nobackup",
  ]);
}

/** Bytes each path's subflow of the data connection had acked (its last sample). */
export interface PathSplit {
  a: number;
  b: number;
  /** Bytes the receiving application read during the test (unread buffered data not counted). */
  received: number;
  transfer: TransferResult;
}

/**
 * Picks `scheduler` for the client's new connections, runs one MPTCP transfer client →
 * server and returns each path's acked bytes (the client's subflow counters at the last
 * sample that saw the data connection). Connections that existed before are ignored.
 *
 * @example
 * ```ts
 * const split = await measureSplit(lab, "sf_redundant", 3);
 * console.log(split.a, split.b, split.received);
 * ```
 */
export async function measureSplit(
  lab: TwoPathLab,
  scheduler: string,
  seconds: number,
): Promise<PathSplit> {
  writeSysctl("net.mptcp.scheduler", scheduler, lab.client.path);
  const earlier = new Set((await listSubflows(lab.client.name)).map((f) => f.token));
  const transfer = await runTransfer({
    client: lab.client,
    server: lab.server,
    serverAddress: lab.paths[0].serverAddress,
    mptcp: true,
    seconds,
  });
  const data = dataConnection(transfer, earlier);
  const acked = (path: number) =>
    data.filter((f) => f.local === lab.paths[path].clientAddress)
      .reduce((sum, f) => sum + f.bytesAcked, 0);
  const split = { a: acked(0), b: acked(1), received: transfer.bytesReceived, transfer };
  assert.equal(data.length, 2, `two subflows carried the transfer: ${show(split)}`);
  // A split of a few kB would be iperf3's control connection: the data one was not seen.
  assert.ok(split.a + split.b > 0.25 * split.received, `the data connection: ${show(split)}`);
  return split;
}

/**
 * The subflows of the connection that carried the most data over all samples (the last
 * sample may come after the data connection closed, leaving only iperf3's control one),
 * leaving out connections of earlier transfers that are still closing.
 */
function dataConnection(transfer: TransferResult, earlier: Set<string>): SubflowStat[] {
  let best: MptcpConnectionStat | undefined;
  for (const sample of transfer.samples) {
    for (const c of groupByConnection(sample.subflows)) {
      if (earlier.has(c.token)) continue;
      if (!best || c.bytesAcked > best.bytesAcked) best = c;
    }
  }
  return best?.subflows ?? [];
}

/**
 * One line for assertion messages.
 *
 * @example
 * ```ts
 * show({ a: 1e6, b: 2e6, received: 3e6 }); // "path A 1.00 MB, path B 2.00 MB, received 3.00 MB"
 * ```
 */
export function show(s: { a: number; b: number; received: number }): string {
  const mb = (n: number) => `${(n / 1e6).toFixed(2)} MB`;
  return `path A ${mb(s.a)}, path B ${mb(s.b)}, received ${mb(s.received)}`;
}
