// Foreign classic tc filters on a PolicyChain's hooks (here classic-BPF
// `bpf bytecode` filters added with `tc`; this host has no u32/flower
// modules): listed in the plan with their place in the run order and never
// touched, in tc mode (our filter's pref against theirs) and tcx mode (tcx
// runs before all classic filters). The tc-mode stack also has an XDP link,
// which stays a BPF link beside the filters.
import assert from "node:assert/strict";
import { applyStack, destroyStack, kernelStore, plan, PolicyChain, Stack } from "../../mod.ts";
import type { StateStore } from "../../engine/store.ts";
import { pinnedProgId, readState } from "../../providers/policy_chain/kernel.ts";
import { classicFilters } from "../../providers/policy_chain/foreign_tc.ts";
import { xdpPrograms } from "../../providers/policy_chain/xdp.ts";
import { run } from "../../lab/command.ts";
import { has } from "../../providers/system/features.ts";
import { TCX } from "../../providers/policy_chain/driver.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { netnsWithTwoVeths, type ScratchNetns, TestResources } from "../helpers/netns.ts";

const RULES = [{ select: { mptcp: "join" as const }, act: [{ drop: true as const }] }];

function stackOf(ns: ScratchNetns, via: "tc" | "tcx") {
  const attach = [
    { dev: "veth0", hooks: ["ingress" as const] },
    { dev: "veth1", hooks: ["xdp" as const] },
  ];
  return new Stack("pcf", [
    new PolicyChain("chain", { netns: ns.path, via, attach, rules: RULES }),
  ]);
}

/** A classic-BPF filter that matches nothing ("ret 0"), at `pref`. */
async function addForeign(ns: ScratchNetns, pref: number) {
  const tc = ["ip", "netns", "exec", ns.name, "tc"];
  await run([...tc, "qdisc", "replace", "dev", "veth0", "clsact"]);
  await run([...tc, "filter", "add", "dev", "veth0", "ingress", "pref", `${pref}`, "bpf"].concat([
    "bytecode",
    "1,6 0 0 0,",
  ]));
}

async function foreignOf(stack: Stack, store: StateStore) {
  const [step] = (await plan(stack, store)).steps;
  return { action: step.action, foreign: (step.foreign ?? []).map((f) => [f.name, f.runs]) };
}

const theirs = (ns: ScratchNetns) =>
  classicFilters(ns.path, "veth0", "ingress").filter((f) => f.progId === null).map((f) => f.pref);

Deno.test("PolicyChain: foreign classic tc filters are listed in run order and never touched", async (t) => {
  await using res = new TestResources();
  const bpffs = privateBpffs();
  res.defer("unmount bpffs", () => bpffs.cleanup());
  const ns = await netnsWithTwoVeths(res, "sf-pcf");
  const store = kernelStore(bpffs.root);
  const dir = `${bpffs.root}/pcf/chain`;
  const stack = stackOf(ns, "tc");
  res.defer("destroy", async () => {
    await destroyStack(stack, store);
  });

  await t.step("tc mode: a foreign filter with a lower pref runs before ours", async () => {
    await addForeign(ns, 100);
    assert.deepEqual((await foreignOf(stack, store)).foreign, [["bpf filter pref 100", "unknown"]]);
    await applyStack(stack, store);
    const ours = classicFilters(ns.path, "veth0", "ingress").find((f) =>
      f.progId === pinnedProgId(`${dir}/tc-ingress-veth0`)
    );
    assert.equal(ours?.pref, 49152, "added without a pref, ours gets the kernel's 49152");
    assert.deepEqual(await foreignOf(stack, store), {
      action: "no-op",
      foreign: [["bpf filter pref 100", "before"]],
    });
    const xdp = readState(dir).links.find((l) => l.pin === "link-xdp-veth1");
    assert.equal(xdp?.hook, "xdp", "the XDP hook is a link even in tc mode");
    assert.deepEqual(xdpPrograms(ns.path, "veth1").map((p) => p.id), [readState(dir).programs.xdp]);
  });

  await t.step("a foreign filter with a higher pref runs after ours", async () => {
    await addForeign(ns, 60000);
    const { action, foreign } = await foreignOf(stack, store);
    assert.equal(action, "no-op");
    assert.deepEqual(foreign, [["bpf filter pref 100", "before"], [
      "bpf filter pref 60000",
      "after",
    ]]);
  });

  await t.step({
    name: `tcx mode: every classic filter runs after the chain${
      has(TCX) ? "" : " (skipped: this kernel has no tcx links, Linux < 6.6)"
    }`,
    ignore: !has(TCX),
    fn: async () => {
      const tcx = stackOf(ns, "tcx");
      await applyStack(tcx, store);
      assert.deepEqual((await foreignOf(tcx, store)).foreign, [
        ["bpf filter pref 100", "after"],
        ["bpf filter pref 60000", "after"],
      ]);
      await applyStack(stack, store);
    },
  });

  await t.step("destroy leaves the foreign filters as they were", async () => {
    await destroyStack(stack, store);
    assert.deepEqual(theirs(ns), [100, 60000]);
    assert.equal(classicFilters(ns.path, "veth0", "ingress").length, 2, "only theirs remain");
    assert.deepEqual(xdpPrograms(ns.path, "veth1"), []);
  });
});
