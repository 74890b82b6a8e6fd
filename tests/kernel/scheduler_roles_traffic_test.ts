// Scheduler path roles under the in-kernel path manager, with real MPTCP
// traffic in the two-path lab: path B declared backup carries < 5 % of a
// transfer's bytes; editing it to active and re-applying during the same
// transfer brings it to ≥ 30 %. Bytes per path are the client subflows'
// `bytes_acked` (ss -ti), read from the kernel, not from sockform. Then the
// loop: no-op re-plan, a flag flipped by hand is drift that apply repairs,
// destroy gives the endpoint its flag and the netns its scheduler back.
import assert from "node:assert/strict";
import { applyStack, destroyStack, kernelStore, plan, Scheduler, Stack } from "../../mod.ts";
import type { StateStore } from "../../engine/store.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import type { TwoPathLab } from "../../lab/two_path_lab.ts";
import { runTransfer, type TransferResult } from "../../lab/mptcp_transfer.ts";
import { groupByConnection, listSubflows, type SubflowStat } from "../../lab/subflows.ts";
import { run } from "../../lab/command.ts";
import { readSysctl } from "../../providers/system/sysctl.ts";
import { withSchedulerLab } from "../helpers/scheduler_lab.ts";

const MB = 1_000_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rolesStack(lab: TwoPathLab, roleB: "active" | "backup"): Stack {
  return new Stack("sched-roles", [
    new Scheduler("client", {
      netns: lab.client.path,
      paths: [
        { match: { dev: lab.paths[0].dev }, role: "active" },
        { match: { dev: lab.paths[1].dev }, role: roleB },
      ],
    }),
  ]);
}

/** The backup flag of the client's path-B endpoint (id 2), as iproute2 reads it. */
async function endpointBFlags(lab: TwoPathLab): Promise<string> {
  const out = await run(["ip", "-n", lab.client.name, "mptcp", "endpoint", "show", "id", "2"]);
  return out.trim();
}

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

/** Waits (bounded) for a connection with 2 subflows that acked more than 1 MB in all. */
async function dataToken(samples: SubflowStat[][]): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const c = groupByConnection(samples.at(-1) ?? []).find((x) =>
      x.subflows.length === 2 && x.bytesAcked > MB
    );
    if (c) return c.token;
    await sleep(100);
  }
  throw new Error(`no MPTCP connection with 2 subflows: ${JSON.stringify(samples.at(-1))}`);
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

async function editDuringTransfer(lab: TwoPathLab, store: StateStore) {
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
    const outcome = await applyStack(rolesStack(lab, "active"), store);
    const [step] = outcome.plan.steps;
    assert.equal(step.action, "update");
    assert.deepEqual(step.changes.map((c) => c.path), ["paths[1].role"]);
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

Deno.test("Scheduler roles (kernel PM): a backup path idles, re-applied as active it carries ≥ 30 % of the same transfer", async (t) => {
  await withSchedulerLab(async (lab) => {
    const fs = privateBpffs();
    const store = kernelStore(fs.root);
    const scheduler = readSysctl("net.mptcp.scheduler", lab.client.path);
    try {
      await t.step("apply sets the endpoint's backup flag; the plan states the mode", async () => {
        assert.doesNotMatch(await endpointBFlags(lab), /backup/);
        const outcome = await applyStack(rolesStack(lab, "backup"), store);
        const mode = outcome.plan.steps[0].changes.find((c) => c.path === "mode");
        assert.match(
          mode?.reason ?? "",
          /kernel.*backup flag of the endpoints/,
          JSON.stringify(mode),
        );
        assert.match(await endpointBFlags(lab), /backup/);
        const again = await plan(rolesStack(lab, "backup"), store);
        assert.deepEqual(again.steps.map((s) => s.action), ["no-op"]);
      });
      await t.step(
        "backup < 5 %, then active ≥ 30 % during one transfer",
        () => editDuringTransfer(lab, store),
      );
      await t.step("a flag flipped by hand is drift; apply repairs it", async () => {
        await run([
          "ip",
          "-n",
          lab.client.name,
          "mptcp",
          "endpoint",
          "change",
          "id",
          "2",
          "backup",
        ]);
        const drift = await plan(rolesStack(lab, "active"), store);
        const change = drift.steps[0].changes.find((c) => c.path === "paths[1].role");
        assert.match(
          change?.reason ?? "",
          /changed outside the stack/,
          JSON.stringify(drift.steps),
        );
        await applyStack(rolesStack(lab, "active"), store);
        assert.doesNotMatch(await endpointBFlags(lab), /backup/);
      });
      await t.step("destroy gives the flag and the scheduler back", async () => {
        await applyStack(rolesStack(lab, "backup"), store);
        await destroyStack(rolesStack(lab, "backup"), store);
        assert.doesNotMatch(await endpointBFlags(lab), /backup/);
        assert.equal(readSysctl("net.mptcp.scheduler", lab.client.path), scheduler);
      });
    } finally {
      try {
        await destroyStack(rolesStack(lab, "active"), store);
      } finally {
        fs.cleanup();
      }
    }
  });
});
