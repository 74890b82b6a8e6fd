// @vm-kernels 6.1
/**
 * CongestionControl on a stock Debian 6.1 kernel, which predates struct_ops
 * links (6.4): plan refuses with the ≥ 6.4 requirement and this kernel, and
 * nothing is registered.
 *
 * @module
 */
import assert from "node:assert/strict";
import { CongestionControl, plan, PlanError, Stack } from "../../../mod.ts";
import { kernelStore } from "../../../providers/state/kernel_store.ts";
import { privateBpffs } from "../../../lab/bpffs.ts";
import { availableCongestion } from "../../../providers/congestion_control/kernel.ts";
import { skipOutsideVm, vmKernel } from "./vm_env.ts";

const REFUSAL =
  /^reno: CongestionControl needs BPF tcp_congestion_ops registered by struct_ops links \(Linux ≥ 6\.4\); this kernel \(6\.1\.[^)]*\) does not have it$/;

const vm = vmKernel();
if (!vm) {
  skipOutsideVm("CongestionControl refusal on 6.1");
} else {
  Deno.test("plan() refuses CongestionControl on 6.1 with the ≥ 6.4 requirement", async () => {
    assert.equal(vm.series, "6.1");
    const fs = privateBpffs();
    try {
      const stack = new Stack("kc", [new CongestionControl("reno", { program: "sfReno" })]);
      const err = await plan(stack, kernelStore(fs.root)).then(() => null, (e) => e);
      assert.ok(err instanceof PlanError, `expected a PlanError, got ${err}`);
      assert.match(err.message, REFUSAL);
      assert.ok(!availableCongestion().includes("sf_reno"), "nothing registered");
    } finally {
      fs.cleanup();
    }
  });
}
