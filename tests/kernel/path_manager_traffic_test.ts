// PathManager updates the plan calls hitless, made while real MPTCP traffic
// runs in the two-path lab: a backup flip (SET_FLAGS), a limits change and a
// sysctl change during one long iperf3 transfer (it must finish, keep both
// subflows, and move its bytes off the backup path), then an endpoint add
// during a stream of new short MPTCP connections (not one may fail or fall
// back to TCP). Changes the plan calls not hitless are only checked to be
// labelled so.
import assert from "node:assert/strict";
import { applyStack, destroyStack, kernelStore, PathManager, plan, Stack } from "../../mod.ts";
import type { ApplyOutcome } from "../../engine/session.ts";
import type { StateStore } from "../../engine/store.ts";
import type { DeclaredFlag } from "../../resources/path_manager/schema.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { LAB_PATHS, setupTwoPathLab, type TwoPathLab } from "../../lab/two_path_lab.ts";
import { runTransfer, type TransferResult } from "../../lab/mptcp_transfer.ts";
import { groupByConnection, listSubflows, type SubflowStat } from "../../lab/subflows.ts";
import { ipEndpointsNoId } from "../helpers/path_manager.ts";
import {
  type RunningLoop,
  startConnectLoop,
  startMptcpEchoServer,
} from "../helpers/mptcp_clients.ts";

const MB = 1_000_000;
const [PATH_A, PATH_B] = LAB_PATHS;
const STACK = "pm-traffic";
/** A second client address on path A, added by the test, for an endpoint to come later. */
const EXTRA_CLIENT = "10.1.2.11";
/** The stack version the transfer step ends at. */
const AFTER_TRANSFER = {
  backup: true,
  limit: 4,
  sysctls: { addAddrTimeout: 60, staleLossCnt: 8 },
} as const;

/** One version of the lab stack; every field defaults to the lab's starting point. */
interface Version {
  backup?: boolean;
  limit?: number;
  sysctls?: { addAddrTimeout: number; staleLossCnt: number };
  serverSignal?: boolean;
  /** The client's extra address on path A ({@linkcode EXTRA_CLIENT}) as a subflow endpoint. */
  extraEndpoint?: boolean;
  clientFlags?: DeclaredFlag[];
}

function labStack(client: string, server: string, v: Version = {}): Stack {
  const flags: DeclaredFlag[] = v.clientFlags ?? (v.backup ? ["subflow", "backup"] : ["subflow"]);
  const signal = { address: PATH_B.serverAddress, dev: PATH_B.dev, flags: ["signal" as const] };
  const extra = { address: EXTRA_CLIENT, dev: PATH_A.dev, flags: ["subflow" as const] };
  return new Stack(STACK, [
    new PathManager("client", {
      netns: client,
      mode: "kernel",
      limits: { subflows: v.limit ?? 2, addAddrAccepted: v.limit ?? 2 },
      endpoints: [
        { address: PATH_B.clientAddress, dev: PATH_B.dev, flags },
        ...(v.extraEndpoint ? [extra] : []),
      ],
      sysctls: { enabled: true, ...v.sysctls },
    }),
    new PathManager("server", {
      netns: server,
      mode: "kernel",
      limits: { subflows: v.serverSignal ? 4 : 2, addAddrAccepted: 0 },
      endpoints: v.serverSignal ? [signal] : [],
      sysctls: { enabled: true },
    }),
  ]);
}

/** Applies `stack`; the steps that changed must be hitless updates with these change paths. */
async function applyHitless(
  stack: Stack,
  store: StateStore,
  want: Record<string, string[]>,
): Promise<ApplyOutcome> {
  const outcome = await applyStack(stack, store);
  const changed = outcome.plan.steps.filter((s) => s.action !== "no-op");
  assert.deepEqual(
    changed.map((s) => [s.name, s.action]),
    Object.keys(want).map((r) => [r, "update"]),
  );
  for (const step of changed) {
    assert.deepEqual(step.changes.map((c) => c.path).sort(), [...want[step.name]].sort());
    assert.ok(step.hitless, `the plan calls it hitless: ${JSON.stringify(step.changes)}`);
  }
  return outcome;
}

interface Sample {
  phase: string;
  subflows: SubflowStat[];
}

/** Samples the client's subflows (`ss -tin`) every 200 ms, tagged with the test's phase. */
function startSampler(netnsName: string) {
  const samples: Sample[] = [];
  let phase = "before";
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      samples.push({ phase, subflows: await listSubflows(netnsName) });
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    samples,
    setPhase: (p: string) => (phase = p),
    stop: () => {
      stopped = true;
      return loop;
    },
  };
}

/** The subflows of connection `token` in a sample, keyed `address:port`. */
function subflowsOf(sample: Sample, token: string): Map<string, SubflowStat> {
  const mine = sample.subflows.filter((s) => s.token === token);
  return new Map(mine.map((s) => [`${s.local}:${s.localPort}`, s]));
}

/** Bytes acked on `address` by connection `token` between two samples. */
function ackedOn(token: string, address: string, from: Sample, to: Sample): number {
  const sum = (s: Sample) =>
    [...subflowsOf(s, token).values()].filter((f) => f.local === address)
      .reduce((n, f) => n + f.bytesAcked, 0);
  return sum(to) - sum(from);
}

/** Waits (bounded) until one connection has 2 subflows that each acked more than 1 MB. */
async function waitForTwoBusySubflows(samples: Sample[]): Promise<string> {
  for (let i = 0; i < 60; i++) {
    const last = samples.at(-1);
    const [data] = groupByConnection(last?.subflows ?? []);
    if (data?.subflows.length === 2 && data.subflows.every((s) => s.bytesAcked > MB)) {
      return data.token;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no MPTCP connection with 2 busy subflows: ${JSON.stringify(samples.at(-1))}`);
}

/** The updates made during the transfer; returns the index of a sample taken after the backup flip. */
async function updatesDuringTransfer(
  ns: { client: string; server: string },
  store: StateStore,
  sampler: ReturnType<typeof startSampler>,
): Promise<number> {
  sampler.setPhase("flip");
  const flip = await applyHitless(labStack(ns.client, ns.server, { backup: true }), store, {
    client: ["endpoints[0]"],
  });
  assert.match(flip.plan.steps[0].changes[0].reason, /SET_FLAGS/);
  sampler.setPhase("flipped");
  // What the subflow of path B had queued before the flip still drains; count from a moment later.
  await new Promise((r) => setTimeout(r, 1000));
  const flippedAt = sampler.samples.length;
  const limited = { backup: true, limit: 4 };
  await applyHitless(labStack(ns.client, ns.server, limited), store, {
    client: ["limits.subflows", "limits.addAddrAccepted"],
  });
  sampler.setPhase("limits");
  const sysctls = { addAddrTimeout: 60, staleLossCnt: 8 };
  await applyHitless(labStack(ns.client, ns.server, { ...limited, sysctls }), store, {
    client: ["sysctls.addAddrTimeout", "sysctls.staleLossCnt"],
  });
  sampler.setPhase("sysctls");
  // Let the transfer run on after the last change, so the samples show where bytes go.
  await new Promise((r) => setTimeout(r, 1500));
  return flippedAt;
}

/** The data connection kept the same two subflows (addresses and ports) in every sample. */
function assertSubflowsKept(samples: Sample[], token: string) {
  const first = samples.findIndex((s) => subflowsOf(s, token).size === 2);
  assert.ok(first >= 0, "the data connection had 2 subflows");
  const want = [...subflowsOf(samples[first], token).keys()].sort();
  for (const s of samples.slice(first)) {
    assert.deepEqual([...subflowsOf(s, token).keys()].sort(), want, `in phase ${s.phase}`);
  }
}

interface Ctx {
  lab: TwoPathLab;
  store: StateStore;
  ns: { client: string; server: string };
}

/** Starts an 8 s MPTCP iperf3 transfer over path A; `ended()` says whether it is over. */
function startTransfer(lab: TwoPathLab) {
  let ended = false;
  const transfer: Promise<TransferResult> = runTransfer({
    client: lab.client,
    server: lab.server,
    serverAddress: PATH_A.serverAddress,
    mptcp: true,
    seconds: 8,
    sampleEveryMs: 0,
  }).finally(() => (ended = true));
  transfer.catch(() => {}); // awaited by the caller; keeps an early failure from going unhandled
  return { transfer, ended: () => ended };
}

async function changesDuringTransfer({ lab, store, ns }: Ctx) {
  const sampler = startSampler(lab.client.name);
  const { transfer, ended } = startTransfer(lab);
  let flippedAt: number;
  let token: string;
  try {
    token = await waitForTwoBusySubflows(sampler.samples);
    flippedAt = await updatesDuringTransfer(ns, store, sampler);
  } finally {
    await sampler.stop();
  }
  assert.ok(!ended(), "the transfer outlasted every change and the sampling after it");
  const result = await transfer;
  assert.ok(result.bytesReceived > 10 * MB, `received ${result.bytesReceived} bytes`);
  const samples = sampler.samples;
  assertSubflowsKept(samples, token);
  const a = ackedOn(token, PATH_A.clientAddress, samples[flippedAt], samples.at(-1)!);
  const b = ackedOn(token, PATH_B.clientAddress, samples[flippedAt], samples.at(-1)!);
  assert.ok(a > MB, `path A carries the traffic after the flip: ${a} bytes`);
  assert.ok(b < a / 10, `the backup path B is nearly idle after the flip: B ${b}, A ${a}`);
  assert.deepEqual(await ipEndpointsNoId(lab.client), [
    { address: PATH_B.clientAddress, dev: PATH_B.dev, flags: ["subflow", "backup"] },
  ]);
}

/** Endpoint adds on both sides (hitless by the plan), made while `loop` connects. */
async function addEndpointsDuring(loop: RunningLoop, { lab, store, ns }: Ctx) {
  await loop.ready;
  const next = { ...AFTER_TRANSFER, serverSignal: true, extraEndpoint: true };
  const outcome = await applyHitless(labStack(ns.client, ns.server, next), store, {
    client: ["endpoints[1]"],
    server: ["limits.subflows", "endpoints[0]"],
  });
  const adds = outcome.plan.steps.flatMap((s) => s.changes).filter((c) => /endpoints/.test(c.path));
  assert.deepEqual(adds.map((c) => c.reason), Array(2).fill("endpoint not in the kernel"));
  assert.deepEqual((await ipEndpointsNoId(lab.client)).map((e) => e.address), [
    EXTRA_CLIENT,
    PATH_B.clientAddress,
  ]);
  assert.deepEqual(await ipEndpointsNoId(lab.server), [
    { address: PATH_B.serverAddress, dev: PATH_B.dev, flags: ["signal"] },
  ]);
}

async function endpointAddDuringConnections(ctx: Ctx) {
  const { lab } = ctx;
  const server = await startMptcpEchoServer(lab.server.name, PATH_A.serverAddress, 7000);
  const bounds = { warm: 100, after: 100, cap: 2000, rate: 100 };
  const loop = startConnectLoop(lab.client.name, PATH_A.serverAddress, 7000, bounds);
  try {
    await addEndpointsDuring(loop, ctx);
    const summary = await loop.finish();
    assert.deepEqual(summary.failures, [], `${summary.failed} of ${summary.total} failed`);
    assert.equal(summary.failed, 0);
    assert.ok(summary.total >= 200, `${summary.total} connections`);
    assert.ok(summary.during > 0, "some connections were made while the apply ran");
  } finally {
    await loop.kill();
    await server.stop();
  }
}

async function notHitlessLabelled({ store, ns }: Ctx) {
  const reflag = { ...AFTER_TRANSFER, clientFlags: ["signal" as const] };
  const flagStep = (await plan(labStack(ns.client, ns.server, reflag), store)).steps
    .find((s) => s.name === "client")!;
  assert.equal(flagStep.hitless, false);
  assert.match(flagStep.changes[0].reason, /deleted and re-added \(its subflows close\)/);
  const removal = { ...AFTER_TRANSFER, serverSignal: false };
  const removeStep = (await plan(labStack(ns.client, ns.server, removal), store)).steps
    .find((s) => s.name === "server")!;
  assert.equal(removeStep.hitless, false);
  const gone = removeStep.changes.find((c) => JSON.stringify(c.before ?? "").includes("10.1.3.2"));
  assert.equal(gone?.reason, "endpoint no longer declared", JSON.stringify(removeStep.changes));
  assert.equal(gone?.hitless, false);
}

Deno.test("PathManager hitless updates under MPTCP traffic: 0 failures, subflows kept", async (t) => {
  const lab = await setupTwoPathLab({ prefix: "sf-pmtr" });
  const fs = privateBpffs();
  const ctx: Ctx = {
    lab,
    store: kernelStore(fs.root),
    ns: { client: lab.client.path, server: lab.server.path },
  };
  try {
    await lab.client.exec(["ip", "addr", "add", `${EXTRA_CLIENT}/24`, "dev", PATH_A.dev]);
    await applyStack(labStack(ctx.ns.client, ctx.ns.server), ctx.store);
    await t.step("backup flip, limits and sysctls during one iperf3 transfer", async () => {
      await changesDuringTransfer(ctx);
    });
    await t.step("endpoint adds during 200+ new MPTCP connections: 0 failures", async () => {
      await endpointAddDuringConnections(ctx);
    });
    await t.step("changes the plan does not call hitless are labelled so", async () => {
      await notHitlessLabelled(ctx);
    });
  } finally {
    try {
      await destroyStack(labStack(ctx.ns.client, ctx.ns.server), ctx.store);
    } finally {
      fs.cleanup();
      await lab.teardown();
    }
  }
});
