// @vm-kernels 6.12
/**
 * PathManager on a stock Debian 6.12 kernel: the host's PathManager kernel
 * tests run unchanged in the VM. Besides proving the netlink code on an older
 * mptcp_pm, this is where the laminar refusal runs for real: 6.12 predates the
 * flag, so plan must refuse it naming Linux ≥ 6.18 (on the 6.18 host the same
 * step applies the flag instead).
 *
 * @module
 */
import { skipOutsideVm, vmKernel } from "./vm_env.ts";

if (!vmKernel()) {
  skipOutsideVm("PathManager kernel tests on a stock kernel");
} else {
  await import("../../kernel/path_manager_test.ts");
  await import("../../kernel/path_manager_input_test.ts");
}
