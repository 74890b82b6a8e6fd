// PolicyChain's XDP hook on the real kernel, no traffic: an XDP link per
// device (native on veth), the plan saying which hook type each link uses,
// a no-op re-plan, a detached XDP link repaired, a foreign XDP program
// reported by plan and apply and never touched, and destroy.
import assert from "node:assert/strict";
import { applyStack, destroyStack, kernelStore, plan, PolicyChain, Stack } from "../../mod.ts";
import type { StateStore } from "../../engine/store.ts";
import * as gen from "../../bpf/gen/policy_chain.ts";
import { BpfLink } from "../../providers/libbpf/link.ts";
import { queryProgIds } from "../../providers/libbpf/attachments.ts";
import { loadObject } from "../../providers/bpf_kind/program.ts";
import { inNetns } from "../../providers/system/netns.ts";
import { libc } from "../../providers/libc/ffi.ts";
import { listInterfaces } from "../../providers/system/interfaces.ts";
import { ATTACH_TYPE, attachTcx, readState } from "../../providers/policy_chain/kernel.ts";
import { xdpPrograms } from "../../providers/policy_chain/xdp.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { has } from "../../providers/system/features.ts";
import { TCX } from "../../providers/policy_chain/driver.ts";
import { netnsWithTwoVeths, TestResources } from "../helpers/netns.ts";
import type { ScratchNetns } from "../helpers/netns.ts";

const RULES = [
  { select: { mptcp: "join" as const }, act: [{ drop: true as const }, { record: true as const }] },
  { select: { dev: "veth1", localPort: 22 }, act: [{ mark: 16 }] },
];

function stackIn(ns: ScratchNetns): Stack {
  const attach = [
    { dev: "veth0", hooks: ["xdp" as const] },
    { dev: "veth1", hooks: ["ingress" as const] },
  ];
  return new Stack("pcx", [new PolicyChain("chain", { netns: ns.path, attach, rules: RULES })]);
}

async function onlyStep(stack: Stack, store: StateStore) {
  const steps = (await plan(stack, store)).steps;
  assert.equal(steps.length, 1);
  return steps[0];
}

Deno.test("PolicyChain on XDP: native link, plan names hook types, drift repaired, foreign XDP refused and untouched, destroy", async (t) => {
  await using res = new TestResources();
  const bpffs = privateBpffs();
  res.defer("unmount bpffs", () => bpffs.cleanup());
  const ns = await netnsWithTwoVeths(res, "sf-pcx");
  const store = kernelStore(bpffs.root);
  const dir = `${bpffs.root}/pcx/chain`;
  const stack = stackIn(ns);
  const veth0 = (await listInterfaces(ns.path)).find((i) => i.name === "veth0")!.ifindex;
  res.defer("destroy the stack", async () => {
    await destroyStack(stack, store);
  });

  await t.step("create: an XDP link on veth0, native, next to a tcx link on veth1", async () => {
    const step = await onlyStep(stack, store);
    assert.match(String(step.changes[0].after), /^tcx? on veth0\/xdp \(xdp link\), veth1\/ingress/);
    await applyStack(stack, store);
    const state = readState(dir);
    const xdp = state.links.find((l) => l.pin === "link-xdp-veth0")!;
    assert.equal(xdp.hook, "xdp");
    assert.equal(xdp.ifindex, veth0);
    assert.equal(xdp.progId, state.programs.xdp);
    assert.deepEqual(xdpPrograms(ns.path, "veth0").map((p) => [p.id, p.name, p.mode]), [
      [state.programs.xdp, "chain_xdp", "native"],
    ]);
    assert.equal((await onlyStep(stack, store)).action, "no-op");
  });

  await t.step("a detached XDP link is drift that apply re-attaches", async () => {
    const link = BpfLink.openPinned(`${dir}/link-xdp-veth0`)!;
    try {
      link.detach();
    } finally {
      link.close();
    }
    assert.deepEqual(xdpPrograms(ns.path, "veth0"), [], "the kernel has no XDP program there");
    const step = await onlyStep(stack, store);
    assert.deepEqual(step.drift.map((c) => [c.path, c.before]), [["attach.veth0.xdp", "detached"]]);
    await applyStack(stack, store);
    assert.deepEqual(xdpPrograms(ns.path, "veth0").map((p) => p.id), [readState(dir).programs.xdp]);
    assert.equal((await onlyStep(stack, store)).action, "no-op");
  });

  await t.step(
    "a foreign XDP program is refused by plan and apply, and never touched",
    async () => {
      const veth1 = (await listInterfaces(ns.path)).find((i) => i.name === "veth1")!.ifindex;
      const obj = loadObject(gen.object, "foreign");
      const foreignFd = obj.program(gen.programs.chain_xdp).fd;
      const linkFd = attachTcx(foreignFd, ns.path, veth1, "xdp", "veth1");
      res.defer("detach the foreign XDP link", () => {
        libc().close(linkFd);
      });
      const theirs = xdpPrograms(ns.path, "veth1").map((p) => p.id);
      assert.equal(theirs.length, 1);
      const attach = [{ dev: "veth1", hooks: ["xdp" as const] }];
      const moved = new Stack("pcx", [
        new PolicyChain("chain", { netns: ns.path, attach, rules: [RULES[0]] }),
      ]);
      await assert.rejects(
        () => plan(moved, store),
        new RegExp(
          `attach\\[0\\]\\.hooks: veth1 already has an XDP program \\(id ${
            theirs[0]
          } chain_xdp, native\\)`,
        ),
      );
      assert.throws(
        () => attachTcx(foreignFd, ns.path, veth1, "xdp", "veth1"),
        /veth1 already has an XDP program/,
      );
      obj.close();
      await destroyStack(stack, store);
      assert.deepEqual(xdpPrograms(ns.path, "veth1").map((p) => p.id), theirs, "theirs stays");
    },
  );

  await t.step("destroy removed the pins and every link of ours", async () => {
    assert.throws(() => Deno.statSync(dir), Deno.errors.NotFound);
    assert.deepEqual(xdpPrograms(ns.path, "veth0"), []);
    const veth1 = (await listInterfaces(ns.path)).find((i) => i.name === "veth1")!.ifindex;
    if (has(TCX)) { // 6.1 has no tcx to query
      assert.deepEqual(inNetns(ns.path, () => queryProgIds(veth1, ATTACH_TYPE.ingress)), []);
    }
  });
});
