// PolicyChain's classic tc path (`via: "tc"`, what kernels before 6.6 get):
// clsact + a direct-action bpf filter per device and hook, found by the
// program it runs. The loop: create, no-op re-plan, a deleted filter as drift,
// a hitless rule edit, a new program build, a switch to tcx links, destroy.
import assert from "node:assert/strict";
import { applyStack, destroyStack, kernelStore, plan, PolicyChain, Stack } from "../../mod.ts";
import type { StateStore } from "../../engine/store.ts";
import type { PolicyChainSpecInput } from "../../resources/policy_chain.ts";
import { readMeta, writeMeta } from "../../providers/state/meta.ts";
import { pinnedProgId, readState } from "../../providers/policy_chain/kernel.ts";
import { tcFilters } from "../../providers/policy_chain/tc.ts";
import { run } from "../../lab/command.ts";
import { has } from "../../providers/system/features.ts";
import { TCX } from "../../providers/policy_chain/driver.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { netnsWithTwoVeths, type ScratchNetns, TestResources } from "../helpers/netns.ts";

function stackOf(ns: ScratchNetns, via: "tc" | "tcx", rules: PolicyChainSpecInput["rules"]) {
  const attach = [{ dev: "veth0", hooks: ["ingress" as const, "egress" as const] }];
  return new Stack("pct", [new PolicyChain("chain", { netns: ns.path, via, attach, rules })]);
}

const RULES = [{ select: { mptcp: "join" as const }, act: [{ drop: true as const }] }];

async function steps(stack: Stack, store: StateStore) {
  return (await plan(stack, store)).steps;
}

/** Program ids of the bpf filters on veth0's hooks. */
function filterProgs(ns: ScratchNetns) {
  return {
    ingress: (tcFilters(ns.path, "veth0", "ingress") ?? []).map((f) => f.progId),
    egress: (tcFilters(ns.path, "veth0", "egress") ?? []).map((f) => f.progId),
  };
}

Deno.test("PolicyChain via tc: filters per hook, drift, hitless edits, rebuild, switch to tcx, destroy", async (t) => {
  await using res = new TestResources();
  const bpffs = privateBpffs();
  res.defer("unmount bpffs", () => bpffs.cleanup());
  const ns = await netnsWithTwoVeths(res, "sf-pct");
  const store = kernelStore(bpffs.root);
  const dir = `${bpffs.root}/pct/chain`;
  const stack = stackOf(ns, "tc", RULES);
  res.defer("destroy", async () => {
    await destroyStack(stack, store);
  });
  const ours = () => ({
    ingress: [pinnedProgId(`${dir}/prog-ingress`)],
    egress: [pinnedProgId(`${dir}/prog-egress`)],
  });

  await t.step("create adds one filter per hook running the pinned programs", async () => {
    const created = await applyStack(stack, store);
    assert.match(
      String(created.plan.steps[0].changes[0].after),
      /^tc on veth0\/egress, veth0\/ingress/,
    );
    assert.deepEqual(filterProgs(ns), ours());
    assert.deepEqual((await steps(stack, store)).map((s) => s.action), ["no-op"]);
  });

  await t.step("a filter deleted behind sockform's back is drift that apply re-adds", async () => {
    await run(["ip", "netns", "exec", ns.name, "tc", "filter", "del", "dev", "veth0", "ingress"]);
    const [step] = await steps(stack, store);
    assert.deepEqual(step.drift.map((c) => [c.path, c.before]), [[
      "attach.veth0.ingress",
      "detached",
    ]]);
    await applyStack(stack, store);
    assert.deepEqual(filterProgs(ns), ours());
  });

  await t.step("a rule edit is one hitless map update", async () => {
    const edited = stackOf(ns, "tc", [...RULES, {
      select: { remotePort: 22 },
      act: [{ mark: 1 }],
    }]);
    const [step] = await steps(edited, store);
    assert.deepEqual(step.changes.map((c) => c.path), ["rules[1]"]);
    assert.ok(step.hitless);
    const before = filterProgs(ns);
    await applyStack(edited, store);
    assert.deepEqual(filterProgs(ns), before, "the same filters and programs");
    await applyStack(stack, store);
  });

  await t.step(
    "a new program build replaces each filter, one per hook after the apply",
    async () => {
      writeMeta(dir, { ...readMeta(dir)!, objectHash: "0".repeat(64) });
      const old = ours();
      await applyStack(stack, store);
      const now = ours();
      assert.notDeepEqual(now, old);
      assert.deepEqual(filterProgs(ns), now);
      assert.deepEqual((await steps(stack, store)).map((s) => s.action), ["no-op"]);
    },
  );

  await t.step({
    name: `switching to tcx removes the filters and attaches links${
      has(TCX) ? "" : " (skipped: this kernel has no tcx links, Linux < 6.6)"
    }`,
    ignore: !has(TCX),
    fn: async () => {
      await applyStack(stackOf(ns, "tcx", RULES), store);
      assert.deepEqual(filterProgs(ns), { ingress: [], egress: [] });
      assert.ok(readState(dir).links.every((l) => l.pin.startsWith("link-") && l.ifindex > 0));
      await applyStack(stack, store);
      assert.deepEqual(filterProgs(ns), ours());
    },
  });

  await t.step("destroy removes every filter of ours", async () => {
    await destroyStack(stack, store);
    assert.deepEqual(filterProgs(ns), { ingress: [], egress: [] });
  });
});
