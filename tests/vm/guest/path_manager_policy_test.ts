// @vm-kernels 6.12 6.1
/**
 * The ndiffports policy agent on stock Debian kernels: the userspace PM's
 * events, SUBFLOW_CREATE with the token, and the MPTCP diag the checks read
 * differ in detail between 6.1, 6.12 and the host's kernel, so the same
 * scenarios as the host's kernel test (tests/kernel/path_manager_policy_test.ts)
 * run here: 10 held-open connections each end with 3 subflows (ndiffports),
 * and with 4 when both ends run fullmesh and the server's agent announces
 * its second address (ANNOUNCE with the signal flag).
 *
 * @module
 */
import { TestResources } from "../../helpers/netns.ts";
import { fullmeshScenario, ndiffportsScenario } from "../../helpers/policy_lab.ts";
import { skipOutsideVm, vmKernel } from "./vm_env.ts";

const vm = vmKernel();
if (!vm) {
  skipOutsideVm("ndiffports policy agent on a stock kernel");
} else {
  Deno.test(`ndiffports 3 on ${vm.release}: 10 connections each end with 3 subflows`, async () => {
    await using res = new TestResources();
    await ndiffportsScenario(res, { prefix: "sf-vndp", port: 7301, subflows: 3, connections: 10 });
  });
  Deno.test(`fullmesh on ${vm.release}: the server announces, 10 connections each end with 4 subflows`, async () => {
    await using res = new TestResources();
    await fullmeshScenario(res, { prefix: "sf-vfm", port: 7302, connections: 10 });
  });
}
