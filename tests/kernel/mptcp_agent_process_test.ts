// Agent process identity, shared by the PathManager and Scheduler agents: a
// detached agent is started in a netns and serves real MPTCP events there
// (its status file counts them); its identity (pid + /proc start time +
// params hash) reads as running; other params read as outdated; a stopped
// (SIGSTOP) agent reads as stuck; kill -9 reads as dead; stop is SIGTERM,
// or SIGKILL when SIGTERM is not obeyed, and leaves nothing behind.
import assert from "node:assert/strict";
import type { AgentIdentity, AgentLaunch } from "../../providers/mptcp_agent/identity.ts";
import { processAlive, readProcStat } from "../../providers/mptcp_agent/identity.ts";
import { agentHealth, startAgent, stopAgent } from "../../providers/mptcp_agent/process.ts";
import { type AgentHandler, serveAgent } from "../../providers/mptcp_agent/agent_main.ts";
import type { AgentSignal } from "../../providers/mptcp_agent/core.ts";
import { readAgentStatus } from "../../providers/mptcp_agent/status.ts";
import { TestResources } from "../helpers/netns.ts";
import { runBurst, startHoldingServer } from "../../lab/mptcp_burst.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function launchIn(res: TestResources, netns: string): Promise<AgentLaunch> {
  const dir = await Deno.makeTempDir({ prefix: "sf-agent-" });
  res.defer("remove agent dir", () => Deno.remove(dir, { recursive: true }));
  const params = { policy: { builtin: "ndiffports", subflows: 3 } };
  return { kind: "path_manager", name: "client", netns, statusFile: `${dir}/agent.json`, params };
}

async function started(res: TestResources, launch: AgentLaunch): Promise<AgentIdentity> {
  const id = await startAgent(launch);
  res.defer(`stop agent ${id.pid}`, async () => void await stopAgent(id, 500));
  return id;
}

/** Waits (bounded) until the agent's status file says `check`. */
async function statusUntil(
  file: string,
  check: (s: ReturnType<typeof readAgentStatus>) => boolean,
) {
  const deadline = Date.now() + 10_000;
  while (!check(readAgentStatus(file)) && Date.now() < deadline) await sleep(100);
  return readAgentStatus(file);
}

Deno.test("agent process: a detached agent serves its netns; running, outdated, stuck, dead by kill -9", async () => {
  await using res = new TestResources();
  const ns = await res.netns("sf-agp");
  const server = await startHoldingServer(ns, "127.0.0.1", 7200, 30);
  res.defer("stop server", () => server.stop());
  const launch = await launchIn(res, ns.path);
  const id = await started(res, launch);

  assert.equal(readProcStat(id.pid)?.startTime, id.startTime, "identity = /proc start time");
  assert.match(Deno.readTextFileSync(`/proc/${id.pid}/cmdline`), /agent_main\.ts/);
  assert.deepEqual(await agentHealth(id, launch), { state: "running" });

  // It really listens in the netns: 5 connections over lo give 10 CREATED (both ends).
  const burst = await runBurst(ns, "127.0.0.1", 7200, { count: 5, keepEvery: 1, seconds: 10 });
  res.defer("stop burst", () => burst.stop());
  const status = await statusUntil(
    launch.statusFile,
    (s) => (s?.counters?.events.CREATED ?? 0) >= 10,
  );
  assert.equal(status?.counters?.events.CREATED, 10);
  assert.equal(status?.counters?.resyncs, 1, "the start resync");

  const other = { ...launch, params: { policy: { builtin: "ndiffports", subflows: 4 } } };
  assert.equal((await agentHealth(id, other)).state, "outdated", "other params = outdated");

  Deno.kill(id.pid, "SIGSTOP");
  try {
    await sleep(2500);
    assert.equal((await agentHealth(id, launch, 1500)).state, "stuck", "no heartbeat = stuck");
  } finally {
    Deno.kill(id.pid, "SIGCONT");
  }

  Deno.kill(id.pid, "SIGKILL");
  const deadline = Date.now() + 5000;
  while ((await agentHealth(id, launch)).state !== "dead" && Date.now() < deadline) await sleep(50);
  assert.equal((await agentHealth(id, launch)).state, "dead", "kill -9 = dead");
  assert.equal(await stopAgent(id), "absent", "stop does not touch a dead agent's pid");
});

Deno.test("agent process: stop is SIGTERM, SIGKILL when SIGTERM is not obeyed, and cleans up", async () => {
  await using res = new TestResources();
  const ns = await res.netns("sf-agp");
  const launch = await launchIn(res, ns.path);

  const first = await started(res, launch);
  assert.equal(await stopAgent(first), "terminated");
  // Gone, or a zombie until Deno reaps its child: either way not running.
  assert.equal(processAlive(first.pid, first.startTime), false, "process gone");
  assert.equal(readAgentStatus(launch.statusFile), undefined, "status file removed");
  assert.equal((await agentHealth(first, launch)).state, "dead");

  const second = await started(res, launch);
  assert.notEqual(second.pid, first.pid);
  Deno.kill(second.pid, "SIGSTOP"); // SIGTERM stays pending while stopped
  assert.equal(await stopAgent(second, 500), "killed");
  assert.equal((await agentHealth(second, launch)).state, "dead");

  // An agent that cannot subscribe reports why, and start says so.
  const bad = { ...launch, netns: "/run/netns/sf-agp-does-not-exist" };
  await assert.rejects(startAgent(bad), /failed to start: .*sf-agp-does-not-exist/);

  // A reused pid (here: this test's own) with another start time is not the agent.
  const me = readProcStat(Deno.pid)!;
  const reused = { ...second, pid: Deno.pid, startTime: me.startTime + 1 };
  assert.equal((await agentHealth(reused, launch)).state, "dead", "pid reuse = dead");
  assert.equal(await stopAgent(reused, 100), "absent", "a reused pid is never signalled");
});

Deno.test("agent loop: a handler that throws is counted and the agent keeps serving", async () => {
  await using res = new TestResources();
  const ns = await res.netns("sf-agl");
  const server = await startHoldingServer(ns, "127.0.0.1", 7300, 30);
  res.defer("stop server", () => server.stop());
  const launch = await launchIn(res, ns.path);
  const seen: AgentSignal[] = [];
  const handler: AgentHandler = {
    handle(signal) {
      seen.push(signal);
      if (signal.kind === "event" && signal.event.type === "CREATED") {
        throw new Error("bug on CREATED");
      }
    },
  };
  const abort = new AbortController();
  const serving = serveAgent(launch, handler, { signal: abort.signal });
  serving.catch(() => {}); // a failure surfaces at `await serving`, after cleanup is registered
  res.defer("stop serving", async () => (abort.abort(), await serving.catch(() => {})));
  await statusUntil(launch.statusFile, (s) => s?.state === "ready");

  const burst = await runBurst(ns, "127.0.0.1", 7300, { count: 5, keepEvery: 1, seconds: 10 });
  res.defer("stop burst", () => burst.stop());
  const established = () =>
    seen.filter((s) => s.kind === "event" && s.event.type === "ESTABLISHED").length;
  const deadline = Date.now() + 10_000;
  while (established() < 10 && Date.now() < deadline) await sleep(50);
  assert.equal(established(), 10, "ESTABLISHED of both ends still reach the handler");
  abort.abort();
  await serving;
  const status = readAgentStatus(launch.statusFile);
  assert.equal(status?.state, "stopped");
  assert.equal(status?.counters?.handlerErrors, 10, "each CREATED's throw is counted");
  assert.equal(status?.lastHandlerError, "bug on CREATED");
  assert.equal(seen[0].kind, "resync", "the start snapshot comes first");
});
