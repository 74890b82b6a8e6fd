/**
 * The policy agent as state, with traffic, through the library's plan /
 * apply / destroy on a private bpffs (no CLI spawn, so it fits a VM under
 * TCG); shared by the host's kernel test and the VM guest test. In the
 * two-path lab's client, ndiffports(2):
 *
 * - apply puts the netns in userspace mode and starts the agent; new
 *   connections get 2 subflows (the kernel's MPTCP diag);
 * - kill -9 the agent: plan names it dead, apply starts another, and new
 *   connections get their subflows again;
 * - ndiffports 2 → 3: plan says the agent runs other params, apply reloads
 *   it (same pid, SIGHUP) and new connections get 3 subflows;
 * - destroy stops it and gives the netns its mode and limits back.
 *
 * @module
 */
import assert from "node:assert/strict";
import { applyStack, destroyStack, kernelStore, plan } from "../../mod.ts";
import { hasChanges, type Plan } from "../../engine/plan.ts";
import { LAB_PATHS, setupTwoPathLab } from "../../lab/two_path_lab.ts";
import { runBurst, startHoldingServer } from "../../lab/mptcp_burst.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { processAlive, readProcStat } from "../../providers/mptcp_agent/identity.ts";
import { takeSnapshot } from "../../providers/mptcp_agent/snapshot.ts";
import { setLimits } from "../../providers/netlink/mptcp_pm.ts";
import { ipLimits, ipPathManagerMode, stackOf } from "./path_manager.ts";
import type { ScratchNetns, TestResources } from "./netns.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pids of live agent processes whose command line names `root` (their launch file is under it). */
export function agentsUnder(root: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let cmdline = "";
    try {
      cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
    } catch { /* gone meanwhile */ }
    if (cmdline.includes("agent_main.ts") && cmdline.includes(root)) pids.push(Number(entry.name));
  }
  return pids;
}

function reasons(p: Plan): string {
  return p.steps.flatMap((s) => [...s.changes, ...s.drift]).map((c) => c.reason).join("\n");
}

/**
 * Opens `count` connections and keeps them; waits (bounded) until each has
 * `want` subflows in the kernel's diag; returns the subflow counts.
 */
async function newConnections(lab: { client: ScratchNetns }, port: number, want: number) {
  const burst = await runBurst(lab.client, LAB_PATHS[0].serverAddress, port, {
    count: 3,
    keepEvery: 1,
    seconds: 20,
  });
  const deadline = Date.now() + 20_000;
  let counts: number[] = [];
  try {
    for (;;) {
      const conns = [...takeSnapshot(lab.client.path).connections.values()];
      counts = burst.keptPorts.map((p) =>
        conns.find((c) => c.localPort === p)?.subflows.length ?? 0
      );
      if (counts.every((n) => n === want) || Date.now() > deadline) return counts;
      await sleep(200);
    }
  } finally {
    await burst.stop();
  }
}

/** The one live agent under `root`, once it is the only one (bounded). */
async function theAgent(root: string): Promise<number> {
  const deadline = Date.now() + 10_000;
  let pids = agentsUnder(root);
  while (pids.length !== 1 && Date.now() < deadline) await sleep(100), pids = agentsUnder(root);
  assert.equal(pids.length, 1, `one agent: ${pids}`);
  return pids[0];
}

/**
 * Runs the scenario of the module doc.
 *
 * @example
 * ```ts
 * await agentLifecycleScenario(res, { prefix: "sf-alc", port: 7440 });
 * ```
 */
export async function agentLifecycleScenario(
  res: TestResources,
  o: { prefix: string; port: number },
): Promise<void> {
  const lab = await setupTwoPathLab({ prefix: o.prefix, cleanupOnSigint: false });
  res.defer("lab teardown", () => lab.teardown());
  setLimits({ subflows: 8, addAddrAccepted: 8 }, lab.server.path);
  const server = await startHoldingServer(lab.server, "0.0.0.0", o.port, 120);
  res.defer("stop holding server", () => server.stop());
  const fs = privateBpffs();
  res.defer("unmount bpffs", () => fs.cleanup());
  res.defer(
    "kill stray agents",
    () => agentsUnder(fs.root).forEach((p) => Deno.kill(p, "SIGKILL")),
  );
  const store = kernelStore(fs.root);
  const before = { mode: await ipPathManagerMode(lab.client), limits: await ipLimits(lab.client) };
  const stack = (subflows: number) =>
    stackOf("alc", {
      netns: lab.client.path,
      mode: "userspace",
      limits: { subflows: 4 },
      policy: { builtin: "ndiffports", subflows },
    });
  await applyStack(stack(2), store);
  assert.equal(await ipPathManagerMode(lab.client), "userspace");
  const first = await theAgent(fs.root);
  assert.deepEqual(await newConnections(lab, o.port, 2), [2, 2, 2], "2 subflows each (diag)");
  await crashAndRestart(stack(2), store, first, fs.root);
  const second = await theAgent(fs.root);
  assert.notEqual(second, first);
  assert.deepEqual(await newConnections(lab, o.port, 2), [2, 2, 2], "after the restart");

  const reload = await plan(stack(3), store);
  assert.match(reasons(reload), new RegExp(`agent pid ${second} runs other params`));
  await applyStack(stack(3), store);
  assert.equal(await theAgent(fs.root), second, "reloaded, not restarted");
  assert.deepEqual(await newConnections(lab, o.port, 3), [3, 3, 3], "the new params took effect");

  await destroyStack(stack(3), store);
  assert.deepEqual(agentsUnder(fs.root), [], "destroy stopped the agent");
  const after = { mode: await ipPathManagerMode(lab.client), limits: await ipLimits(lab.client) };
  assert.deepEqual(after, before, "destroy gave the mode and limits back");
}

/** kill -9: plan names the dead agent, apply starts another and leaves nothing to do. */
async function crashAndRestart(
  stack: ReturnType<typeof stackOf>,
  store: ReturnType<typeof kernelStore>,
  pid: number,
  root: string,
): Promise<void> {
  const start = readProcStat(pid)!.startTime;
  Deno.kill(pid, "SIGKILL");
  const deadline = Date.now() + 10_000;
  while (processAlive(pid, start) && Date.now() < deadline) await sleep(50);
  assert.ok(!processAlive(pid, start), `agent ${pid} gone`);
  const drift = await plan(stack, store);
  assert.ok(hasChanges(drift), "a dead agent is a change");
  assert.match(reasons(drift), new RegExp(`agent pid ${pid} is dead`));
  await applyStack(stack, store);
  assert.ok(!hasChanges(await plan(stack, store)), "apply repaired it");
  assert.equal(agentsUnder(root).length, 1);
}
