// Scheduler path roles under the userspace path manager, all through
// sockform resources in the two-path lab: the client's PathManager runs a
// fullmesh agent (a subflow per path), its Scheduler's roles agent keeps
// path B's subflows backup; B carries < 5 % of a transfer, and the stack
// edited to active and re-applied during the same transfer (the roles agent
// restarted with the new params) brings B to ≥ 30 %. Bytes per path are the
// client subflows' `bytes_acked` (ss -ti). Destroy stops both agents.
import assert from "node:assert/strict";
import {
  applyStack,
  destroyStack,
  kernelStore,
  PathManager,
  plan,
  Scheduler,
  Stack,
} from "../../mod.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { setupTwoPathLab, type TwoPathLab } from "../../lab/two_path_lab.ts";
import { agentStatusFile } from "../../providers/path_manager/agent.ts";
import { readAgentStatus } from "../../providers/mptcp_agent/status.ts";
import { processAlive } from "../../providers/mptcp_agent/identity.ts";
import { editDuringTransfer } from "../helpers/scheduler_roles.ts";

function userspaceStack(lab: TwoPathLab, roleB: "active" | "backup"): Stack {
  const [a, b] = lab.paths;
  return new Stack("sched-us", [
    new PathManager("client-pm", {
      netns: lab.client.path,
      mode: "userspace",
      policy: { builtin: "fullmesh" },
      locals: [{ address: b.clientAddress, id: 2 }],
    }),
    new PathManager("server-pm", {
      netns: lab.server.path,
      mode: "kernel",
      limits: { subflows: 8, addAddrAccepted: 8 },
    }),
    new Scheduler("client", {
      netns: lab.client.path,
      paths: [{ match: { dev: a.dev }, role: "active" }, { match: { dev: b.dev }, role: roleB }],
    }, { dependsOn: ["client-pm"] }),
  ]);
}

Deno.test("Scheduler roles (userspace PM): the roles agent idles a backup path, re-applied as active it carries ≥ 30 % of the same transfer", async () => {
  const lab = await setupTwoPathLab({ prefix: "sf-schu", rateMbit: 20 });
  const fs = privateBpffs();
  const store = kernelStore(fs.root);
  const statusFile = agentStatusFile(`${fs.root}/sched-us/client`);
  try {
    const first = await applyStack(userspaceStack(lab, "backup"), store);
    const mode = first.plan.steps.find((s) => s.name === "client")!.changes[0];
    assert.match(mode.reason, /PathManager "client-pm" declares mode userspace/);
    const agent = readAgentStatus(statusFile);
    assert.ok(agent && processAlive(agent.pid, agent.startTime), "the roles agent runs");
    const again = await plan(userspaceStack(lab, "backup"), store);
    assert.deepEqual(again.steps.map((s) => s.action), ["no-op", "no-op", "no-op"]);
    await editDuringTransfer(lab, store, (r) => userspaceStack(lab, r), ["paths"]);
    const next = readAgentStatus(statusFile)!;
    await destroyStack(userspaceStack(lab, "active"), store);
    assert.ok(!processAlive(next.pid, next.startTime), "destroy stopped the roles agent");
  } finally {
    try {
      await destroyStack(userspaceStack(lab, "active"), store);
    } finally {
      fs.cleanup();
      await lab.teardown();
    }
  }
});
