// The policy agent under loss and bad input, in the two-path lab's client
// netns (userspace PM), results read from the kernel's MPTCP diag:
// - a burst of 3,000 short connections against a deliberately small event
//   buffer: the core overflows and resyncs (its counters say so), and
//   afterwards the runner's view equals the kernel's dump and every
//   surviving connection has the subflows ndiffports wants;
// - a policy module that does not exist, or does not export the API, fails
//   the agent's start with an error naming `policy.module`;
// - a policy that throws on some connections is logged (to the log file
//   next to the status file) and counted, and the other connections are
//   still served.
import assert from "node:assert/strict";
import { LAB_PATHS } from "../../lab/two_path_lab.ts";
import { serveAgent } from "../../providers/mptcp_agent/agent_main.ts";
import { ndiffports } from "../../providers/mptcp_agent/builtins.ts";
import type { AgentLaunch } from "../../providers/mptcp_agent/identity.ts";
import { PmCommands } from "../../providers/mptcp_agent/pm_commands.ts";
import { PolicyRunner } from "../../providers/mptcp_agent/runner.ts";
import { AgentStartError, startAgent } from "../../providers/mptcp_agent/process.ts";
import { agentLogPath, readAgentStatus } from "../../providers/mptcp_agent/status.ts";
import { takeSnapshot } from "../../providers/mptcp_agent/snapshot.ts";
import { tokenHex } from "../../providers/mptcp_agent/events.ts";
import type { AgentCounters } from "../../providers/mptcp_agent/counters.ts";
import { TestResources } from "../helpers/netns.ts";
import { runBurst, startHoldingServer } from "../../lab/mptcp_burst.ts";
import { pmAgent, policyLab, runnerCounters, subflowsSettle } from "../helpers/policy_lab.ts";

const [PATH_A] = LAB_PATHS;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The agent's status once `ready(counters)` holds, or the last one read after 5 s. */
async function statusWhere(file: string, ready: (c: AgentCounters) => boolean) {
  const deadline = Date.now() + 5_000;
  let status = readAgentStatus(file);
  while (!(status?.counters && ready(status.counters)) && Date.now() < deadline) {
    await sleep(200);
    status = readAgentStatus(file);
  }
  return status;
}

/** Waits (bounded) until the runner's tokens equal the kernel's; returns both, sorted. */
async function viewsConverge(runner: PolicyRunner, netns: string, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const kernel = [...takeSnapshot(netns).connections.keys()].map(tokenHex).sort();
    const view = [...runner.connections.keys()].map(tokenHex).sort();
    if (JSON.stringify(kernel) === JSON.stringify(view) || Date.now() > deadline) {
      return { kernel, view };
    }
    await sleep(200);
  }
}

Deno.test("3,000 short connections over a 4 KB event buffer: overflow, resync, then the view equals the kernel and survivors have their subflows", async () => {
  await using res = new TestResources();
  const { lab, dir } = await policyLab(res, "sf-rsy", { holdPort: 7401 });
  const pm = PmCommands.open(lab.client.path);
  res.defer("close pm socket", () => pm.close());
  const errors: string[] = [];
  const policy = ndiffports({ locals: [], params: { subflows: 2 }, log: () => {} });
  const runner = new PolicyRunner(policy, pm, (m) => errors.push(m));
  const launch: AgentLaunch = {
    kind: "path_manager",
    name: "resync",
    netns: lab.client.path,
    statusFile: `${dir}/resync.json`,
    params: {},
    receiveBufferBytes: 4096,
  };
  const abort = new AbortController();
  const served = serveAgent(launch, runner, { signal: abort.signal, log: (m) => errors.push(m) });
  res.defer("stop in-process agent", async () => (abort.abort(), await served));
  while (readAgentStatus(launch.statusFile)?.state !== "ready") await sleep(20);

  const burst = await runBurst(lab.client, PATH_A.serverAddress, 7401, {
    count: 3000,
    keepEvery: 100,
    seconds: 60,
  });
  res.defer("stop burst", () => burst.stop());
  assert.ok(burst.made >= 2900, `burst made ${burst.made}`);
  const { kernel, view } = await viewsConverge(runner, lab.client.path);
  assert.deepEqual(view, kernel, "the runner's connections = the kernel's dump");
  assert.equal(kernel.length, burst.keptPorts.length, "only the kept connections live");
  const counts = await subflowsSettle(lab.client.path, kernel.length, () => 2);
  const each = Array(kernel.length).fill(2);
  assert.deepEqual([...counts.values()], each, `2 subflows each (diag); ${errors.slice(-3)}`);
  // The status file is refreshed about once a second; a fast burst can end before the next write.
  const status = await statusWhere(launch.statusFile, (c) => c.overflows > 0 && c.resyncs >= 2);
  assert.ok((status?.counters?.overflows ?? 0) > 0, "the small buffer overflowed");
  assert.ok((status?.counters?.resyncs ?? 0) >= 2, "start + at least one overflow resync");
});

Deno.test("bad policy modules fail the agent's start with an error naming policy.module", async () => {
  await using res = new TestResources();
  const ns = await res.netns("sf-pbad");
  const dir = await Deno.makeTempDir({ prefix: "sf-pbad-" });
  res.defer("remove dir", () => Deno.remove(dir, { recursive: true }));
  const noApi = `${dir}/no_api.ts`;
  Deno.writeTextFileSync(noApi, "export const policy = 1;\n");
  const cases = [
    { module: `${dir}/missing.ts`, want: /policy\.module: .*missing\.ts does not exist/ },
    { module: noApi, want: /policy\.module: .*no_api\.ts does not export createPolicy/ },
  ];
  for (const { module, want } of cases) {
    const statusFile = `${dir}/agent.json`;
    const launch: AgentLaunch = {
      kind: "path_manager",
      name: "bad",
      netns: ns.path,
      statusFile,
      params: { policy: { module }, locals: [] },
    };
    await assert.rejects(startAgent(launch), (err: Error) => {
      assert.ok(err instanceof AgentStartError, String(err));
      assert.match(err.message, want);
      return true;
    });
    assert.equal(readAgentStatus(statusFile)?.state, "failed");
    assert.match(Deno.readTextFileSync(agentLogPath(statusFile)), want, "logged too");
  }
});

const THROWING_POLICY = `
export const createPolicy = ({ params }) => ({
  name: "throws-on-port",
  onEvent(event, conn) {
    if (conn.serverSide || conn.local === "") return [];
    if (conn.remotePort === params.badPort) throw new Error("refusing port " + conn.remotePort);
    if (event.type !== "established" && event.type !== "resync") return [];
    if (conn.subflows.length >= 2) return [];
    return [{ kind: "create_subflow", local: { address: conn.local, id: 9 },
      remote: { address: conn.remote, port: conn.remotePort } }];
  },
});
`;

Deno.test("a policy that throws on some connections is logged and counted; the others are served", async () => {
  await using res = new TestResources();
  const { lab, dir } = await policyLab(res, "sf-pthr", { holdPort: 7402 });
  const good = await startHoldingServer(lab.server, "0.0.0.0", 7403, 60);
  res.defer("stop second server", () => good.stop());
  const module = `${dir}/throws.js`;
  Deno.writeTextFileSync(module, THROWING_POLICY);
  const agent = await pmAgent(res, dir, "client", lab.client.path, {
    policy: { module, params: { badPort: 7402 } },
    locals: [],
  });
  const opts = { count: 5, keepEvery: 1, seconds: 20 };
  const bad = await runBurst(lab.client, PATH_A.serverAddress, 7402, opts);
  res.defer("stop bad burst", () => bad.stop());
  const ok = await runBurst(lab.client, PATH_A.serverAddress, 7403, opts);
  res.defer("stop good burst", () => ok.stop());
  const snap = () => [...takeSnapshot(lab.client.path).connections.values()];
  await subflowsSettle(
    lab.client.path,
    10,
    (t) => snap().find((c) => c.token === t)?.remotePort === 7403 ? 2 : 1,
  );
  const byPort = (port: number) =>
    snap().filter((c) => c.remotePort === port).map((c) => c.subflows.length);
  assert.deepEqual(byPort(7403), [2, 2, 2, 2, 2], "served connections got their second subflow");
  assert.deepEqual(byPort(7402), [1, 1, 1, 1, 1], "the policy's refusals created nothing");
  const counters = await runnerCounters(agent.statusFile, (c) => c.policyErrors >= 5);
  assert.ok((counters?.policyErrors ?? 0) >= 5, JSON.stringify(counters));
  assert.match(
    Deno.readTextFileSync(agentLogPath(agent.statusFile)),
    /threw on .*refusing port 7402/,
  );
});
