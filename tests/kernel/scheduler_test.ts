// Scheduler on the host kernel (6.18, no BPF MPTCP schedulers): plan refuses
// BPF schedulers with the exact reason at `scheduler`, refuses `failover`
// under the in-kernel PM, refuses a second stack's Scheduler on a netns one
// already manages; under the userspace PM the roles agent starts with each
// path's resolved local addresses, a killed agent is drift that apply
// repairs, and destroy stops it. Own netns and private bpffs.
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
import type { SchedulerSpecInput } from "../../resources/scheduler.ts";
import { TestResources } from "../helpers/netns.ts";
import { planError, scratch } from "../helpers/path_manager.ts";
import { BPF_SCHEDULER_REFUSAL } from "../../providers/scheduler/support.ts";
import { agentStatusFile } from "../../providers/path_manager/agent.ts";
import { readAgentStatus } from "../../providers/mptcp_agent/status.ts";
import { agentLaunchFile, readLaunchFile } from "../../providers/mptcp_agent/process.ts";
import { processAlive } from "../../providers/mptcp_agent/identity.ts";

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const sched = (name: string, spec: SchedulerSpecInput) =>
  new Stack(name, [new Scheduler("s", spec)]);

Deno.test("Scheduler plan refusals on the host kernel", async (t) => {
  await using res = new TestResources();
  const { ns, root } = await scratch(res);
  for (const scheduler of ["roundRobin", "redundant", "backupFirst"] as const) {
    await t.step(`${scheduler}: the exact BTF reason at scheduler`, () =>
      planError(
        sched("r", { netns: ns.path, scheduler }),
        root,
        "scheduler",
        new RegExp(`^s\\.scheduler: ${escape(BPF_SCHEDULER_REFUSAL)}$`),
      ));
  }
  await t.step("failover under the in-kernel PM", () =>
    planError(
      sched("r", {
        netns: ns.path,
        paths: [{ match: { dev: "veth0" }, role: "active" }, {
          match: { dev: "veth1" },
          role: "backup",
        }],
        failover: { when: { rttMsAbove: 300 }, promote: "veth1" },
      }),
      root,
      "failover",
      /needs the userspace path manager.*in-kernel PM \(net\.mptcp\.path_manager is kernel\)/,
    ));
  await t.step("a path on a device the netns lacks", () =>
    planError(
      sched("r", { netns: ns.path, paths: [{ match: { dev: "wwan0" }, role: "backup" }] }),
      root,
      "paths[0].match.dev",
      /no interface wwan0 in the netns \(it has: .*veth0/,
    ));
  await t.step("a second stack's Scheduler on the same netns", async () => {
    const store = kernelStore(root);
    await applyStack(sched("first", { netns: ns.path }), store);
    try {
      await planError(
        sched("second", { netns: ns.path }),
        root,
        "netns",
        /already managed by Scheduler "s" of stack "first" \(one scheduler per netns\)/,
      );
    } finally {
      await destroyStack(sched("first", { netns: ns.path }), store);
    }
  });
});

Deno.test("Scheduler under the userspace PM: the roles agent runs with the resolved paths, is repaired when killed, stops at destroy", async () => {
  await using res = new TestResources();
  const { ns, root } = await scratch(res);
  const store = kernelStore(root);
  const stack = new Stack("us", [
    new PathManager("pm", { netns: ns.path, mode: "userspace" }),
    new Scheduler("s", {
      netns: ns.path,
      paths: [{ match: { dev: "veth0" }, role: "active" }, {
        match: { dev: "veth1" },
        role: "backup",
      }],
      failover: { when: { rttMsAbove: 300 }, promote: "veth1" },
    }, { dependsOn: ["pm"] }),
  ]);
  const statusFile = agentStatusFile(`${root}/us/s`);
  try {
    const first = await plan(stack, store);
    const mode = first.steps.find((s) => s.name === "s")?.changes.find((c) => c.path === "mode");
    assert.match(
      mode?.reason ?? "",
      /PathManager "pm" declares mode userspace: roles go through the scheduler agent/,
    );
    await applyStack(stack, store);
    const status = readAgentStatus(statusFile);
    assert.ok(status && processAlive(status.pid, status.startTime), "the agent runs");
    const launch = readLaunchFile(agentLaunchFile(statusFile));
    assert.equal(launch?.kind, "scheduler");
    assert.equal(launch?.netns, ns.path);
    assert.deepEqual(launch?.params, {
      paths: [
        { name: "veth0", locals: ["10.9.0.1", "fd00:9::1"], role: "active" },
        { name: "veth1", locals: ["10.9.1.1"], role: "backup" },
      ],
      failover: { when: { rttMsAbove: 300 }, promote: "veth1" },
    });
    assert.deepEqual((await plan(stack, store)).steps.map((s) => s.action), ["no-op", "no-op"]);
    Deno.kill(status.pid, "SIGKILL");
    for (let i = 0; i < 50 && processAlive(status.pid, status.startTime); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const drift = (await plan(stack, store)).steps.find((s) => s.name === "s")!;
    assert.match(drift.changes[0].reason, new RegExp(`agent pid ${status.pid} is dead`));
    await applyStack(stack, store);
    const again = readAgentStatus(statusFile);
    assert.ok(again && again.pid !== status.pid && processAlive(again.pid, again.startTime));
    await destroyStack(stack, store);
    assert.ok(!processAlive(again.pid, again.startTime), "destroy stopped the agent");
    assert.equal(readAgentStatus(statusFile), undefined, "its status file is gone");
  } finally {
    await destroyStack(stack, store);
  }
});
