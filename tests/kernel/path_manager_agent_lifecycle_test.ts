// The policy agent as state with traffic, through the library's plan /
// apply / destroy (tests/helpers/agent_lifecycle.ts, shared with the VM guest
// test): kill -9 is drift that apply repairs, new connections get their
// subflows again, a params change reloads the same process and takes effect,
// destroy gives the netns back. Own lab, private bpffs.
import { TestResources } from "../helpers/netns.ts";
import { agentLifecycleScenario } from "../helpers/agent_lifecycle.ts";

Deno.test("agent lifecycle with traffic: crash is drift, apply restarts, params reload, destroy restores", async () => {
  await using res = new TestResources();
  await agentLifecycleScenario(res, { prefix: "sf-alc", port: 7440 });
});
