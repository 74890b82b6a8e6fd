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
  /** Bytes the client sent: exactly what each byte of data counts once in. */
  data: number;
  transfer: TransferResult;
}

/**
 * Picks `scheduler` for the client's new connections, runs one MPTCP transfer client →
 * server, exactly `bytes` long, and returns each path's acked bytes (the client's subflow
 * counters at the last sample that saw the data connection).
 *
 * @example
 * ```ts
 * const split = await measureSplit(lab, "sf_redundant", 3_000_000);
 * console.log(split.a, split.b, split.data);
 * ```
 */
export async function measureSplit(
  lab: TwoPathLab,
  scheduler: string,
  bytes: number,
): Promise<PathSplit> {
  writeSysctl("net.mptcp.scheduler", scheduler, lab.client.path);
  const transfer = await runTransfer({
    client: lab.client,
    server: lab.server,
    serverAddress: lab.paths[0].serverAddress,
    mptcp: true,
    bytes,
    sampleEveryMs: 100,
  });
  const data = dataConnection(transfer);
  const acked = (path: number) =>
    data.filter((f) => f.local === lab.paths[path].clientAddress)
      .reduce((sum, f) => sum + f.bytesAcked, 0);
  const split = { a: acked(0), b: acked(1), data: bytes, transfer };
  assert.equal(data.length, 2, `two subflows carried the transfer: ${show(split)}`);
  return split;
}

/**
 * The subflows of the connection that carried the most data over all samples (the last
 * sample may come after the data connection closed, leaving only iperf3's control one).
 */
function dataConnection(transfer: TransferResult): SubflowStat[] {
  let best: MptcpConnectionStat | undefined;
  for (const sample of transfer.samples) {
    for (const c of groupByConnection(sample.subflows)) {
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
 * show({ a: 1e6, b: 2e6, data: 3e6 }); // "path A 1.00 MB, path B 2.00 MB of 3.00 MB"
 * ```
 */
export function show(s: { a: number; b: number; data: number }): string {
  const mb = (n: number) => `${(n / 1e6).toFixed(2)} MB`;
  return `path A ${mb(s.a)}, path B ${mb(s.b)} of ${mb(s.data)}`;
}
