// The policy agent process under bursts of short MPTCP connections in the
// two-path lab (tests/helpers/agent_burst.ts, shared with the VM guest test):
// with the 8 MB event buffer it sees every CREATED and no overflow; with a
// 4 KB buffer and the agent stopped for the burst it counts the overflow and
// resyncs. Either way its view ends equal to the kernel's dump and every
// surviving connection has its 2 subflows (the kernel's MPTCP diag).
import { TestResources } from "../helpers/netns.ts";
import { agentBurstScenario } from "../helpers/agent_burst.ts";

Deno.test("agent process: 3,000 short connections over the 8 MB buffer lose no event, and survivors get their subflows", async () => {
  await using res = new TestResources();
  await agentBurstScenario(res, {
    prefix: "sf-abl",
    port: 7420,
    count: 3000,
    keepEvery: 100,
    mode: "lossless",
  });
});

Deno.test("agent process: stopped through 3,000 connections over a 4 KB buffer, it overflows, resyncs, and survivors get their subflows", async () => {
  await using res = new TestResources();
  await agentBurstScenario(res, {
    prefix: "sf-abo",
    port: 7421,
    count: 3000,
    keepEvery: 100,
    mode: "overflow",
  });
});
