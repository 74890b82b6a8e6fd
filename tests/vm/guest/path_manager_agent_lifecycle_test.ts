// @vm-kernels 6.12 6.1
/**
 * The policy agent as state on stock Debian kernels: the host's scenario
 * (tests/kernel/path_manager_agent_lifecycle_test.ts) through the library's
 * plan / apply / destroy: kill -9 is drift that apply repairs and new
 * connections get their subflows again; ndiffports 2 → 3 reloads the same
 * process (SIGHUP) and new connections get 3; destroy gives the netns its
 * path-manager mode (pm_type on 6.1 and 6.12) and limits back.
 *
 * @module
 */
import { TestResources } from "../../helpers/netns.ts";
import { agentLifecycleScenario } from "../../helpers/agent_lifecycle.ts";
import { skipOutsideVm, vmKernel } from "./vm_env.ts";

const vm = vmKernel();
if (!vm) {
  skipOutsideVm("policy agent lifecycle on a stock kernel");
} else {
  Deno.test(`agent lifecycle on ${vm.release}: crash, restart, reload, destroy`, async () => {
    await using res = new TestResources();
    await agentLifecycleScenario(res, { prefix: "sf-valc", port: 7440 });
  });
}
