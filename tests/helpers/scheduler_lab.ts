/**
 * The two-path lab set up for BPF MPTCP scheduler tests: the client announces its path-B
 * address as a subflow endpoint (optionally a backup one), both ends accept two subflows,
 * and a transfer's bytes per path are read from the client's interface counters.
 *
 * @module
 */
import assert from "node:assert/strict";
import { setupTwoPathLab, type TwoPathLab } from "../../lab/two_path_lab.ts";
import { runTransfer, type TransferResult } from "../../lab/mptcp_transfer.ts";
import { readInterfaceCounters } from "../../lab/subflows.ts";
import { run } from "../../lab/command.ts";
import { writeSysctl } from "../../providers/system/sysctl.ts";

/** Lab rate per path: low enough for qemu TCG to fill both paths. */
export const SCHED_LAB_MBIT = 20;

/** Options of {@linkcode withSchedulerLab}. */
export interface SchedulerLabOptions {
  /** Flag the client's path-B endpoint `backup`. */
  backupB?: boolean;
}

/**
 * Builds the lab, runs `fn`, removes the lab even when `fn` throws.
 *
 * @example
 * ```ts
 * await withSchedulerLab({ backupB: true }, async (lab) => console.log(lab.client.name));
 * ```
 */
export async function withSchedulerLab(
  opts: SchedulerLabOptions,
  fn: (lab: TwoPathLab) => Promise<void>,
): Promise<void> {
  const lab = await setupTwoPathLab({ prefix: "sf-sched", rateMbit: SCHED_LAB_MBIT });
  try {
    for (const ns of [lab.client, lab.server]) {
      await run(["ip", "-n", ns.name, "mptcp", "limits", "set", "subflows", "2"]);
    }
    const b = lab.paths[1];
    const flags = opts.backupB ? ["subflow", "backup"] : ["subflow"];
    await run([
      ...["ip", "-n", lab.client.name, "mptcp", "endpoint", "add", b.clientAddress],
      ...["dev", b.dev, ...flags],
    ]);
    await fn(lab);
  } finally {
    await lab.teardown();
  }
}

/** Bytes the client sent on each path during one transfer. */
export interface PathSplit {
  a: number;
  b: number;
  /** Bytes the receiver counted (each byte once). */
  received: number;
  transfer: TransferResult;
}

/**
 * Picks `scheduler` for the client's new connections, runs one MPTCP transfer client →
 * server and returns each path's transmitted bytes (client interface counters).
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
  const before = readInterfaceCounters(lab.client.path);
  const transfer = await runTransfer({
    client: lab.client,
    server: lab.server,
    serverAddress: lab.paths[0].serverAddress,
    mptcp: true,
    seconds,
  });
  const after = readInterfaceCounters(lab.client.path);
  const sent = (dev: string) => after[dev].txBytes - before[dev].txBytes;
  const split = {
    a: sent(lab.paths[0].dev),
    b: sent(lab.paths[1].dev),
    received: transfer.bytesReceived,
    transfer,
  };
  assert.equal(
    transfer.dataSubflows.length,
    2,
    `two subflows carried the transfer: ${show(split)}`,
  );
  return split;
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
