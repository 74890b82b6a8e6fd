// @vm-kernels 6.1
/**
 * PolicyChain on a stock Debian 6.1 kernel, which predates tcx links (6.6):
 * the chain falls back to classic tc (clsact + a direct-action bpf filter),
 * and the host's match test (mark and record on IPv4 and IPv6, through the
 * kernel's default hook), tc-path loop, foreign classic tc filters and the
 * XDP hook (loop, and MP_JOIN dropped with traffic) run unchanged inside the VM.
 *
 * @module
 */
import assert from "node:assert/strict";
import { has } from "../../../providers/system/features.ts";
import { TCX } from "../../../providers/policy_chain/driver.ts";
import { skipOutsideVm, vmKernel } from "./vm_env.ts";

const vm = vmKernel();
if (!vm) {
  skipOutsideVm("PolicyChain tc fallback tests on 6.1");
} else {
  Deno.test("the 6.1 kernel has no tcx links, so PolicyChain uses classic tc", () => {
    assert.equal(vm.series, "6.1");
    assert.equal(has(TCX), false);
  });
  await import("../../kernel/policy_chain_match_test.ts");
  await import("../../kernel/policy_chain_tc_test.ts");
  await import("../../kernel/policy_chain_tc_foreign_test.ts");
  await import("../../kernel/policy_chain_xdp_loop_test.ts");
  await import("../../kernel/policy_chain_xdp_test.ts");
  await import("../../kernel/policy_chain_traffic_test.ts");
  await import("../../kernel/policy_chain_strip_test.ts");
}
