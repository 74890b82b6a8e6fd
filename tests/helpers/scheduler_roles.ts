/**
 * Path-role checks with real traffic, shared by the Scheduler's kernel-PM and
 * userspace-PM tests: bytes per path are the client subflows' `bytes_acked`
 * (ss -ti), sampled every 200 ms during one transfer.
 *
 * @module
 */
import assert from "node:assert/strict";
import { applyStack, type Stack } from "../../mod.ts";
import type { StateStore } from "../../engine/store.ts";
import type { TwoPathLab } from "../../lab/two_path_lab.ts";
import { runTransfer, type TransferResult } from "../../lab/mptcp_transfer.ts";
import { groupByConnection, listSubflows, type SubflowStat } from "../../lab/subflows.ts";

const MB = 1_000_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Samples the client's subflows every 200 ms (at most 300 samples). */
function startSampler(netnsName: string) {
  const samples: SubflowStat[][] = [];
  let stopped = false;
  const loop = (async () => {
    for (let i = 0; i < 300 && !stopped; i++) {
      samples.push(await listSubflows(netnsName));
      await sleep(200);
    }
  })();
  return { samples, stop: () => (stopped = true, loop) };
}

/** Waits (bounded) for a connection with 2 or more subflows that acked more than 1 MB in all. */
async function dataToken(samples: SubflowStat[][]): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const c = groupByConnection(samples.at(-1) ?? []).find((x) =>
      x.subflows.length >= 2 && x.bytesAcked > MB
    );
    if (c) return c.token;
    await sleep(100);
  }
  throw new Error(`no MPTCP connection with 2+ subflows: ${JSON.stringify(samples.at(-1))}`);
}

/** Bytes acked on path A and path B by connection `token` between samples `from` and `to`. */
function split(lab: TwoPathLab, samples: SubflowStat[][], token: string, from: number, to: number) {
  const on = (i: number, address: string) =>
    samples[i].filter((f) => f.token === token && f.local === address)
      .reduce((n, f) => n + f.bytesAcked, 0);
  const delta = (address: string) => on(to, address) - on(from, address);
  const a = delta(lab.paths[0].clientAddress);
  const b = delta(lab.paths[1].clientAddress);
  return { a, b, shareB: b / Math.max(1, a + b) };
}

/**
 * Runs one 14 s MPTCP transfer client → server: path B's share while `stackFor("backup")` is
 * applied must be < 5 %; `stackFor("active")` is applied during it (a hitless update whose
 * changes are at `paths`) and B's share after must be ≥ 30 %.
 *
 * @example
 * ```ts
 * await editDuringTransfer(lab, store, (r) => rolesStack(lab, r), ["paths[1].role"]);
 * ```
 */
export async function editDuringTransfer(
  lab: TwoPathLab,
  store: StateStore,
  stackFor: (roleB: "active" | "backup") => Stack,
  paths: string[],
): Promise<void> {
  const sampler = startSampler(lab.client.name);
  let ended = false;
  const transfer: Promise<TransferResult> = runTransfer({
    client: lab.client,
    server: lab.server,
    serverAddress: lab.paths[0].serverAddress,
    mptcp: true,
    seconds: 14,
    sampleEveryMs: 0,
  }).finally(() => (ended = true));
  transfer.catch(() => {});
  try {
    const token = await dataToken(sampler.samples);
    const b0 = sampler.samples.length - 1;
    await sleep(2500);
    const backup = split(lab, sampler.samples, token, b0, sampler.samples.length - 1);
    assert.ok(backup.a > MB, `path A carries the transfer: ${JSON.stringify(backup)}`);
    assert.ok(backup.shareB < 0.05, `backup path B < 5 %: ${JSON.stringify(backup)}`);
    const outcome = await applyStack(stackFor("active"), store);
    const changed = outcome.plan.steps.filter((s) => s.action !== "no-op");
    assert.deepEqual(changed.map((s) => s.action), ["update"]);
    const [step] = changed;
    assert.deepEqual(step.changes.map((c) => c.path), paths);
    assert.ok(step.hitless, "a role change is hitless");
    await sleep(1000); // MP_PRIO reaches the peer; what A had queued drains
    const a0 = sampler.samples.length - 1;
    await sleep(2500);
    const active = split(lab, sampler.samples, token, a0, sampler.samples.length - 1);
    console.log(
      `path B share: ${backup.shareB.toFixed(3)} as backup, ${active.shareB.toFixed(3)} active`,
    );
    assert.ok(!ended, "the same transfer was still running");
    assert.ok(active.shareB >= 0.3, `path B ≥ 30 % once active: ${JSON.stringify(active)}`);
  } finally {
    await sampler.stop();
  }
  const result = await transfer;
  assert.ok(result.bytesReceived > 5 * MB, `received ${result.bytesReceived} bytes`);
}
