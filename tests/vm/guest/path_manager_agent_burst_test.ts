// @vm-kernels 6.12 6.1
/**
 * The policy agent process under bursts on stock Debian kernels: event
 * delivery, ENOBUFS and the MPTCP diag the resync reads differ between 6.1,
 * 6.12 and the host's kernel, so the host's scenario
 * (tests/kernel/path_manager_agent_burst_test.ts) runs here, smaller for
 * TCG: 200 short connections, every 20th kept. With the 8 MB buffer no
 * event is lost; with a 4 KB buffer and the agent stopped through the burst
 * it overflows and resyncs. Either way the view equals the kernel's dump
 * and every survivor has its 2 subflows.
 *
 * @module
 */
import { TestResources } from "../../helpers/netns.ts";
import { agentBurstScenario } from "../../helpers/agent_burst.ts";
import { skipOutsideVm, vmKernel } from "./vm_env.ts";

const vm = vmKernel();
if (!vm) {
  skipOutsideVm("policy agent burst tests on a stock kernel");
} else {
  const burst = { count: 200, keepEvery: 20 };
  Deno.test(`agent burst on ${vm.release}: 200 connections over 8 MB lose no event`, async () => {
    await using res = new TestResources();
    await agentBurstScenario(res, { prefix: "sf-vabl", port: 7420, ...burst, mode: "lossless" });
  });
  Deno.test(`agent burst on ${vm.release}: a 4 KB buffer overflows, the agent resyncs`, async () => {
    await using res = new TestResources();
    await agentBurstScenario(res, { prefix: "sf-vabo", port: 7421, ...burst, mode: "overflow" });
  });
}
