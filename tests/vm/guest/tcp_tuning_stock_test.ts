// @vm-kernels 6.12 6.1
/**
 * TcpTuning on stock Debian kernels: the host's kernel tests (sockets,
 * MPTCP subflows, the plan/apply loop) run unchanged inside each VM of the
 * matrix, so the sock_ops program, bpf_loop and bpf_skc_to_mptcp_sock are
 * proven on 6.1 and 6.12 as well as on the host.
 *
 * @module
 */
import { skipOutsideVm, vmKernel } from "./vm_env.ts";

if (!vmKernel()) {
  skipOutsideVm("TcpTuning kernel tests on stock kernels");
} else {
  await import("../../kernel/tcp_tuning_test.ts");
  await import("../../kernel/tcp_tuning_mptcp_test.ts");
  await import("../../kernel/tcp_tuning_loop_test.ts");
}
