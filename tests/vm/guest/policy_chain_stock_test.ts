// @vm-kernels 6.12
/**
 * PolicyChain on a stock Debian 6.12 kernel (tcx links exist from 6.6): the
 * host's loop test (no-op re-plan, drift, foreign programs, destroy), its
 * IPv4/IPv6 match test (tcx and classic tc), its tc-path loop, foreign
 * classic tc filters, the XDP hook (loop and MP_JOIN drop with traffic) and
 * per-subflow record against `ss -ti` run unchanged inside the VM.
 *
 * @module
 */
import { skipOutsideVm, vmKernel } from "./vm_env.ts";

if (!vmKernel()) {
  skipOutsideVm("PolicyChain kernel tests on a stock kernel");
} else {
  await import("../../kernel/policy_chain_loop_test.ts");
  await import("../../kernel/policy_chain_match_test.ts");
  await import("../../kernel/policy_chain_tc_test.ts");
  await import("../../kernel/policy_chain_tc_foreign_test.ts");
  await import("../../kernel/policy_chain_xdp_loop_test.ts");
  await import("../../kernel/policy_chain_xdp_test.ts");
  await import("../../kernel/policy_chain_traffic_test.ts");
  await import("../../kernel/policy_chain_strip_test.ts");
  await import("../../kernel/policy_chain_clamp_test.ts");
  await import("../../kernel/policy_chain_record_test.ts");
}
