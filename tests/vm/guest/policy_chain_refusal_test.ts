// @vm-kernels 6.1
/**
 * PolicyChain on a stock Debian 6.1 kernel, which predates tcx links (6.6):
 * plan refuses cleanly, naming the requirement and this kernel, and leaves
 * nothing behind. (The classic tc fallback for 6.1 is not built.)
 *
 * @module
 */
import assert from "node:assert/strict";
import { PolicyChain } from "../../../resources/policy_chain.ts";
import { Stack } from "../../../engine/stack.ts";
import { plan } from "../../../engine/plan.ts";
import { PlanError } from "../../../engine/errors.ts";
import { kernelStore } from "../../../providers/state/kernel_store.ts";
import { has } from "../../../providers/system/features.ts";
import { TCX } from "../../../providers/policy_chain/driver.ts";
import { privateBpffs } from "../../../lab/bpffs.ts";
import { skipOutsideVm, vmKernel } from "./vm_env.ts";

const REFUSAL =
  /^edge: PolicyChain needs tcx links \(BPF_TCX_INGRESS\/EGRESS\) \(Linux ≥ 6\.6\); this kernel \(6\.1\.[^)]*\) does not have it$/;

const vm = vmKernel();
if (!vm) {
  skipOutsideVm("PolicyChain refusal test");
} else {
  Deno.test("plan() refuses PolicyChain on 6.1 with the ≥ 6.6 requirement and this kernel", async () => {
    assert.equal(vm.series, "6.1");
    assert.equal(has(TCX), false);
    const fs = privateBpffs();
    try {
      const chain = new PolicyChain("edge", {
        attach: [{ dev: "lo", hooks: ["ingress"] }],
        rules: [{ select: { mptcp: "addAddr" }, act: [{ drop: true }] }],
      });
      const err = await plan(new Stack("pc", [chain]), kernelStore(fs.root)).then(
        () => null,
        (e) => e,
      );
      assert.ok(err instanceof PlanError, `expected a PlanError, got ${err}`);
      assert.match(err.message, REFUSAL);
      assert.deepEqual([...Deno.readDirSync(fs.root)], [], "nothing was created");
    } finally {
      fs.cleanup();
    }
  });
}
