// PolicyChain's plan/apply loop on the real kernel: a no-op re-plan, drift
// (a detached link, a rule entry edited behind sockform's back) repaired by
// apply, a foreign tcx program shown and never touched, a device dropped
// from `attach`, and destroy.
import assert from "node:assert/strict";
import {
  applyStack,
  destroyStack,
  kernelStore,
  plan,
  PolicyChain,
  showStack,
  Stack,
} from "../../mod.ts";
import type { StateStore } from "../../engine/store.ts";
import * as gen from "../../bpf/gen/policy_chain.ts";
import { BpfLink } from "../../providers/libbpf/link.ts";
import { queryProgIds } from "../../providers/libbpf/attachments.ts";
import { loadObject } from "../../providers/bpf_kind/program.ts";
import { inNetns } from "../../providers/system/netns.ts";
import { libc } from "../../providers/libc/ffi.ts";
import { listInterfaces } from "../../providers/system/interfaces.ts";
import {
  ATTACH_TYPE,
  attachTcx,
  openChainMap,
  readState,
  RULESET_KEY,
} from "../../providers/policy_chain/kernel.ts";
import { encodeRuleset } from "../../providers/policy_chain/codec.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { netnsWithTwoVeths, TestResources } from "../helpers/netns.ts";
import type { ScratchNetns } from "../helpers/netns.ts";

const RULES = [
  { select: { remote: "10.9.0.0/24", mptcp: "join" as const }, act: [{ drop: true as const }] },
  {
    select: { any: [{ localPort: 22 }, { remotePort: 443 }] },
    act: [{ mark: 16 }, { record: true as const }],
  },
];

function stackIn(ns: ScratchNetns, attach = [
  { dev: "veth0", hooks: ["ingress" as const, "egress" as const] },
  { dev: "veth1", hooks: ["ingress" as const] },
]): Stack {
  return new Stack("pcl", [new PolicyChain("chain", { netns: ns.path, attach, rules: RULES })]);
}

async function ifindex(ns: ScratchNetns, dev: string): Promise<number> {
  return (await listInterfaces(ns.path)).find((i) => i.name === dev)!.ifindex;
}

async function onlyStep(stack: Stack, store: StateStore) {
  const steps = (await plan(stack, store)).steps;
  assert.equal(steps.length, 1);
  return steps[0];
}

Deno.test("PolicyChain: no-op re-plan, drift repaired, foreign programs untouched, destroy", async (t) => {
  await using res = new TestResources();
  const bpffs = privateBpffs();
  res.defer("unmount bpffs", () => bpffs.cleanup());
  const ns = await netnsWithTwoVeths(res, "sf-pcl");
  const store = kernelStore(bpffs.root);
  const dir = `${bpffs.root}/pcl/chain`;
  const stack = stackIn(ns);
  const veth0 = await ifindex(ns, "veth0");
  res.defer("destroy the stack", async () => {
    await destroyStack(stack, store);
  });

  await t.step("create, then a no-op re-plan", async () => {
    const created = await applyStack(stack, store);
    assert.deepEqual(created.plan.steps.map((s) => s.action), ["create"]);
    const state = readState(dir);
    assert.equal(state.links.length, 3);
    assert.ok(state.links.every((l) => l.ifindex > 0), JSON.stringify(state.links));
    assert.equal((await onlyStep(stack, store)).action, "no-op");
  });

  await t.step("show gives each recording rule its counters", async () => {
    const [shown] = await showStack(stack, store);
    const rules = (shown.details as { rules: Record<string, unknown>[] }).rules;
    assert.deepEqual(rules.map((r) => [r.index, r.packets, r.bytes]), [
      [0, undefined, undefined],
      [1, 0, 0],
    ]);
  });

  await t.step("a detached link is drift that apply re-attaches", async () => {
    const link = BpfLink.openPinned(`${dir}/link-ingress-veth0`)!;
    try {
      link.detach();
    } finally {
      link.close();
    }
    const step = await onlyStep(stack, store);
    assert.equal(step.action, "update");
    assert.deepEqual(step.drift.map((c) => [c.path, c.before]), [[
      "attach.veth0.ingress",
      "detached",
    ]]);
    await applyStack(stack, store);
    const l = readState(dir).links.find((x) => x.pin === "link-ingress-veth0")!;
    assert.equal(l.ifindex, veth0);
    assert.equal((await onlyStep(stack, store)).action, "no-op");
  });

  await t.step(
    "a rule entry edited behind sockform's back is drift that apply restores",
    async () => {
      const map = openChainMap(dir, "ruleset")!;
      try {
        map.update(RULESET_KEY, encodeRuleset([{ clauses: [{}], act: { drop: true } }]));
      } finally {
        map.close();
      }
      const step = await onlyStep(stack, store);
      assert.deepEqual(step.drift.map((c) => c.path), ["rules[0]", "rules[1]"]);
      assert.ok(step.hitless);
      await applyStack(stack, store);
      assert.equal((await onlyStep(stack, store)).action, "no-op");
    },
  );

  await t.step("a foreign tcx program is shown and never touched", async () => {
    const obj = loadObject(gen.object, "foreign");
    const linkFd = attachTcx(obj.program(gen.programs.chain_ingress).fd, ns.path, veth0, "ingress");
    res.defer("detach the foreign link", () => {
      libc().close(linkFd);
    });
    obj.close();
    const step = await onlyStep(stack, store);
    assert.equal(step.action, "no-op");
    const foreign = step.foreign ?? [];
    assert.equal(foreign.length, 1, JSON.stringify(foreign));
    assert.equal(foreign[0].hook, "tcx ingress");
    assert.equal(foreign[0].runs, "after");
    const theirs = foreign[0].progId;
    await applyStack(stackIn(ns, [{ dev: "veth1", hooks: ["ingress"] }]), store);
    const onVeth0 = inNetns(ns.path, () => queryProgIds(veth0, ATTACH_TYPE.ingress));
    assert.deepEqual(onVeth0, [theirs], "our veth0 links are gone, theirs stays");
    await destroyStack(stack, store);
    assert.deepEqual(inNetns(ns.path, () => queryProgIds(veth0, ATTACH_TYPE.ingress)), [theirs]);
  });

  await t.step("destroy removed the pins and every link of ours", async () => {
    assert.throws(() => Deno.statSync(dir), Deno.errors.NotFound);
    const veth1 = await ifindex(ns, "veth1");
    assert.deepEqual(inNetns(ns.path, () => queryProgIds(veth1, ATTACH_TYPE.ingress)), []);
    assert.deepEqual(inNetns(ns.path, () => queryProgIds(veth0, ATTACH_TYPE.egress)), []);
  });
});
