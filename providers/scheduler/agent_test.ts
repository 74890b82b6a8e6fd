// The Scheduler's roles agent: what it is started with, and a start
// failure reported under the Scheduler's field (`paths`), not the
// PathManager's `policy`.
import assert from "node:assert/strict";
import { resolveRolesAgent } from "./agent.ts";
import { agentStartError } from "../path_manager/agent.ts";
import { Scheduler } from "../../resources/scheduler.ts";
import type { DriverContext } from "../../engine/types.ts";

Deno.test("a roles agent's start failure names the Scheduler's paths; a PathManager's still names policy", async () => {
  const s = new Scheduler("uplinks", {
    netns: "/run/netns/c",
    paths: [{ match: { dev: "veth-a" }, role: "active" }, {
      match: { dev: "veth-b" },
      role: "backup",
    }],
    failover: { when: { sendRateBelow: "2mbit" }, promote: "veth-b" },
  });
  const ctx = { stackName: "demo" } as DriverContext;
  const desired = await resolveRolesAgent(ctx, s, [["10.1.2.1"], ["10.1.3.1"]]);
  assert.ok(desired);
  assert.equal(desired.launch.kind, "scheduler");
  assert.deepEqual(
    (desired.launch.params as { failover?: unknown }).failover,
    { when: { sendRateBelow: 250_000 }, promote: "veth-b" },
  );
  const err = agentStartError(desired, new Error("agent demo/uplinks exited before it was ready"));
  assert.equal(
    err.message,
    "paths (roles veth-a=active, veth-b=backup, failover to veth-b): " +
      "agent demo/uplinks exited before it was ready",
  );
  const pm = {
    ...desired,
    startField: undefined,
    label: "fullmesh",
    policyKey: "builtin:fullmesh",
  };
  assert.match(agentStartError(pm, new Error("x")).message, /^policy \(fullmesh\): x$/);
  const mod = { ...pm, label: "module /p.ts", policyKey: "module:/p.ts" };
  assert.match(agentStartError(mod, new Error("x")).message, /^policy\.module \(/);
});
