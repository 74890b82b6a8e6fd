// @vm-kernels 6.12 6.1
/**
 * The ndiffports policy agent on stock Debian kernels: the userspace PM's
 * events, SUBFLOW_CREATE with the token, and the MPTCP diag the checks read
 * differ in detail between 6.1, 6.12 and the host's kernel, so the same
 * scenario as the host's kernel test (tests/kernel/path_manager_policy_test.ts)
 * runs here: 10 held-open connections each end with 3 subflows.
 *
 * @module
 */
import { TestResources } from "../../helpers/netns.ts";
import { ndiffportsScenario } from "../../helpers/policy_lab.ts";
import { skipOutsideVm, vmKernel } from "./vm_env.ts";

const vm = vmKernel();
if (!vm) {
  skipOutsideVm("ndiffports policy agent on a stock kernel");
} else {
  Deno.test(`ndiffports 3 on ${vm.release}: 10 connections each end with 3 subflows`, async () => {
    await using res = new TestResources();
    await ndiffportsScenario(res, { prefix: "sf-vndp", port: 7301, subflows: 3, connections: 10 });
  });
}
