// A programmable PathManager with real MPTCP traffic in the two-path lab,
// through the CLI: the client netns runs ndiffports(2) under the agent, and
// every connection ends with 2 subflows as `ss -tin` (the kernel's socket
// diag) reports them. kill -9 the agent: plan exits 2 naming it, apply starts
// a new one, and new connections get their subflows again. ndiffports 2 → 3
// (a reload, same pid): new connections get 3. Destroy leaves no agent.
import assert from "node:assert/strict";
import { setupTwoPathLab } from "../../lab/two_path_lab.ts";
import { runBurst, startHoldingServer } from "../../lab/mptcp_burst.ts";
import { groupByConnection, listSubflows } from "../../lab/subflows.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { TestResources } from "../helpers/netns.ts";
import { cli, writeStackFile } from "../helpers/path_manager.ts";
import { processAlive, readProcStat } from "../../providers/mptcp_agent/identity.ts";
import type { PathManagerSpecInput } from "../../resources/path_manager.ts";

const PORT = 7310;
const CONNECTIONS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Subflow count per connection from the kernel, polled until `want` for all of `tokens` (bounded). */
async function subflowsUntil(netns: string, ports: number[], want: number) {
  const deadline = Date.now() + 15_000;
  let counts: number[] = [];
  while (Date.now() < deadline) {
    const conns = groupByConnection(await listSubflows(netns));
    // A kept connection is found by its initial subflow's local port.
    counts = ports.map((p) =>
      conns.find((c) => c.subflows.some((s) => s.localPort === p))?.subflows.length ?? 0
    );
    if (counts.every((n) => n === want)) return counts;
    await sleep(200);
  }
  return counts;
}

Deno.test("PathManager agent with traffic: ndiffports subflows, kill -9 repaired by apply, 2 → 3 by reload", async (t) => {
  await using res = new TestResources();
  const lab = await setupTwoPathLab({ prefix: "sf-pmat" });
  res.defer("tear the lab down", () => lab.teardown());
  const fs = privateBpffs();
  res.defer("unmount bpffs", () => fs.cleanup());
  const [pathA] = lab.paths;
  const server = await startHoldingServer(lab.server, pathA.serverAddress, PORT, 120);
  res.defer("stop server", () => server.stop());
  const spec = (subflows: number): Record<string, PathManagerSpecInput> => ({
    client: {
      netns: lab.client.path,
      mode: "userspace",
      limits: { subflows: 8 },
      policy: { builtin: "ndiffports", subflows },
    },
    server: { netns: lab.server.path, mode: "kernel", limits: { subflows: 8 } },
  });
  let file = await writeStackFile("agtr", spec(2));
  res.defer("remove stack file", () => Deno.removeSync(file));
  const args = (
    cmd: string,
    ...more: string[]
  ) => [cmd, ...more, "-s", file, "--state-root", fs.root];
  const agentPid = async () => {
    const r = await cli(args("show", "--json"));
    const shown = JSON.parse(r.stdout).resources as {
      address: string;
      details: { agent: { pid: number } };
    }[];
    const client = shown.find((x) => x.address.endsWith(".client"));
    return client!.details.agent.pid;
  };
  const burst = async (what: string, want: number) => {
    const b = await runBurst(lab.client, pathA.serverAddress, PORT, {
      count: CONNECTIONS,
      keepEvery: 1,
      seconds: 20,
    });
    res.defer(`close ${what}`, () => b.stop());
    assert.equal(b.made, CONNECTIONS, `${what}: connections made`);
    assert.deepEqual(
      await subflowsUntil(lab.client.name, b.keptPorts, want),
      b.keptPorts.map(() => want),
      what,
    );
  };
  res.defer("destroy", async () => void await cli(args("destroy", "--auto-approve")));

  await t.step("apply: each connection ends with 2 subflows", async () => {
    const r = await cli(args("apply", "--auto-approve"));
    assert.equal(r.code, 0, r.stderr);
    await burst("first burst", 2);
  });

  await t.step(
    "kill -9: plan exits 2 naming it; after apply new connections get 2 subflows",
    async () => {
      const pid = await agentPid();
      const start = readProcStat(pid)!.startTime;
      Deno.kill(pid, "SIGKILL");
      const deadline = Date.now() + 10_000;
      while (processAlive(pid, start) && Date.now() < deadline) await sleep(50);
      const p = await cli(args("plan", "--detailed-exitcode"));
      assert.equal(p.code, 2, p.stderr);
      assert.match(p.stdout, new RegExp(`agent pid ${pid} is dead`));
      assert.equal((await cli(args("apply", "--auto-approve"))).code, 0);
      assert.notEqual(await agentPid(), pid);
      await burst("burst after the restart", 2);
    },
  );

  await t.step("ndiffports 2 → 3 reaches the running agent: new connections get 3", async () => {
    const pid = await agentPid();
    Deno.removeSync(file);
    file = await writeStackFile("agtr", spec(3));
    assert.equal((await cli(args("apply", "--auto-approve"))).code, 0);
    assert.equal(await agentPid(), pid, "reloaded, not restarted");
    await burst("burst after the reload", 3);
  });

  await t.step("destroy: no agent left", async () => {
    const pid = await agentPid();
    const start = readProcStat(pid)!.startTime;
    assert.equal((await cli(args("destroy", "--auto-approve"))).code, 0);
    assert.ok(!processAlive(pid, start));
  });
});
