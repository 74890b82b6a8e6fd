// @vm-kernels 6.12
/**
 * MptcpifyHook rescopes under load on a stock Debian 6.12 kernel: while two
 * processes keep creating sockets, the stack is rescoped back and forth (a
 * map edit on the same link, which the plan calls hitless). Every socket of
 * the in-scope process must be MPTCP (SO_PROTOCOL 262) and every socket of the
 * out-of-scope process TCP (6), before, during and after: zero exceptions.
 *
 * @module
 */
import assert from "node:assert/strict";
import { MptcpifyHook, type MptcpifyHookSpecInput } from "../../../resources/mptcpify_hook.ts";
import { Stack } from "../../../engine/stack.ts";
import { applyStack, destroyStack } from "../../../engine/session.ts";
import { kernelStore } from "../../../providers/state/kernel_store.ts";
import { BpfLink } from "../../../providers/libbpf/link.ts";
import { privateBpffs } from "../../../lab/bpffs.ts";
import { type LoopSummary, startSocketLoop } from "../../helpers/mptcp_clients.ts";
import { skipOutsideVm, vmKernel } from "./vm_env.ts";
import { fmodRetLinkIds, IPPROTO } from "./mptcpify_support.ts";

const STACK = "mpy-traffic";
const RESCOPES = 6;
/** Sockets each process makes before the first rescope and after the last; a hard cap bounds it. */
const BOUNDS = { warm: 1000, after: 1000, cap: 200_000, rate: 0 };

/** Two scopes that both keep `sf-keep` and never name `sf-out`. */
const SCOPES: MptcpifyHookSpecInput[] = [
  { scope: { commands: ["sf-keep", "sf-old"], uids: [4242] } },
  { scope: { commands: ["sf-new", "sf-keep"] }, exclude: { commands: ["sf-never"] } },
];

function stackOf(spec: MptcpifyHookSpecInput): Stack {
  return new Stack(STACK, [new MptcpifyHook("legacy", spec)]);
}

function linkId(root: string): number {
  const link = BpfLink.openPinned(`${root}/${STACK}/legacy/link`);
  assert.ok(link, "the link pin exists");
  try {
    return link.info().id;
  } finally {
    link.close();
  }
}

/** Applies the scopes in turn; returns each apply's plan step and the link id after it. */
async function rescope(root: string) {
  const applied = [];
  for (let i = 1; i <= RESCOPES; i++) {
    const outcome = await applyStack(stackOf(SCOPES[i % 2]), kernelStore(root));
    applied.push({ step: outcome.plan.steps[0], linkId: linkId(root) });
  }
  return applied;
}

/** Each rescope was one hitless update that kept the link. */
function assertHitlessRescopes(linkBefore: number, applied: Awaited<ReturnType<typeof rescope>>) {
  applied.forEach(({ step, linkId }, i) => {
    assert.equal(step.action, "update", `rescope ${i + 1}`);
    assert.ok(step.hitless, `rescope ${i + 1} is hitless: ${JSON.stringify(step.changes)}`);
    assert.equal(linkId, linkBefore, `rescope ${i + 1} kept the link`);
  });
  assert.equal(fmodRetLinkIds().length, 1, "one fmod_ret link");
}

function assertClean(name: string, s: LoopSummary) {
  assert.deepEqual(s.failures, [], `${name}: ${s.failed} of ${s.total} sockets were wrong`);
  assert.equal(s.failed, 0);
  assert.ok(s.during > 0, `${name} made sockets while the rescopes ran`);
  assert.equal(s.after, BOUNDS.after, `${name} made ${BOUNDS.after} sockets after them`);
  assert.ok(s.total >= 2 * BOUNDS.warm, `${name} made ${s.total} sockets`);
}

/** Starts both socket loops on the applied hook, rescopes while they run, checks every socket. */
async function rescopeUnderLoad(root: string): Promise<void> {
  const keep = startSocketLoop("sf-keep", IPPROTO.MPTCP, BOUNDS);
  const out = startSocketLoop("sf-out", IPPROTO.TCP, BOUNDS);
  try {
    await Promise.all([keep.ready, out.ready]);
    const linkBefore = linkId(root);
    const applied = await rescope(root);
    const [kept, other] = await Promise.all([keep.finish(), out.finish()]);
    console.log(`sf-keep ${JSON.stringify(kept)}\nsf-out ${JSON.stringify(other)}`);
    // Traffic first: it is what a user sees, and what a scratch non-hitless rescope must trip.
    assertClean("sf-keep (in scope)", kept);
    assertClean("sf-out (out of scope)", other);
    assertHitlessRescopes(linkBefore, applied);
  } finally {
    await keep.kill();
    await out.kill();
  }
}

const vm = vmKernel();
if (!vm) {
  skipOutsideVm("MptcpifyHook rescope-under-load tests");
} else {
  Deno.test("rescoping under load: in-scope sockets always MPTCP, out-of-scope always TCP", async () => {
    const fs = privateBpffs();
    try {
      await applyStack(stackOf(SCOPES[0]), kernelStore(fs.root));
      await rescopeUnderLoad(fs.root);
    } finally {
      try {
        await destroyStack(stackOf({}), kernelStore(fs.root));
      } finally {
        fs.cleanup();
      }
    }
  });
}
