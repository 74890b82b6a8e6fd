// Subflow roles kept by the scheduler agent with real traffic in the
// two-path lab (client in userspace-PM mode, a fullmesh agent giving every
// connection a subflow per path). Path B declared backup carries < 5 % of
// the bytes the client sends during a transfer; the launch file edited to
// make B active and the agent sent SIGHUP (a reload, same pid) during the
// same transfer brings B to ≥ 30 %. Bytes per path come from the client's
// interface counters and the backup flags from `ss -ti`, not from the agent.
// In between, a B subflow flipped to active by hand is put back by the agent.
import assert from "node:assert/strict";
import {
  backupFlags,
  labRoles,
  pathTxBytes,
  setupRolesLab,
  startRolesAgent,
} from "../../lab/path_roles.ts";
import { runTransfer } from "../../lab/mptcp_transfer.ts";
import { listSubflows } from "../../lab/subflows.ts";
import { PmCommands } from "../../providers/mptcp_agent/pm_commands.ts";
import { dumpMptcpSubflows } from "../../providers/mptcp_agent/snapshot.ts";
import { reloadAgent } from "../../providers/mptcp_agent/process.ts";
import { readAgentStatus } from "../../providers/mptcp_agent/status.ts";
import type { RolesCounters } from "../../providers/mptcp_agent/roles.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const share = (a: number, b: number) => b / Math.max(1, a + b);

/** Polls `ss -ti` (bounded) until every subflow from `address` has backup flag `want`. */
async function flagsBecome(lab: Parameters<typeof backupFlags>[0], address: string, want: boolean) {
  const deadline = Date.now() + 5000;
  let flags: boolean[] = [];
  while (Date.now() < deadline) {
    flags = (await backupFlags(lab)).get(address) ?? [];
    if (flags.length && flags.every((f) => f === want)) return flags;
    await sleep(100);
  }
  return flags;
}

Deno.test("scheduler agent: path B backup carries < 5 % of a transfer, a hand-flipped flag is repaired, a reload to active during it ≥ 30 %", async () => {
  const roles = await setupRolesLab("sf-roles");
  try {
    const { lab } = roles;
    const sched = await startRolesAgent(roles, labRoles(lab, "backup"));
    const transfer = runTransfer({
      client: lab.client,
      server: lab.server,
      serverAddress: lab.paths[0].serverAddress,
      mptcp: true,
      seconds: 12,
      sampleEveryMs: 0,
    });
    const settled = transfer.catch((err) => err); // the teardown may end it on a failure
    const pathB = lab.paths[1].clientAddress;
    assert.deepEqual(await flagsBecome(lab, pathB, true), [true, true], "B subflows backup (ss)");
    await sleep(1000);
    const start = pathTxBytes(lab);
    await sleep(2500);
    const mid = pathTxBytes(lab);
    const backupShare = share(mid[0] - start[0], mid[1] - start[1]);
    console.log(
      `B backup: A ${mid[0] - start[0]} B ${mid[1] - start[1]} bytes, B share ${
        (100 * backupShare).toFixed(1)
      } %`,
    );
    // Drift: one B subflow flipped to active by hand (SET_FLAGS from this test, not the
    // agent); the agent's next sample of the kernel puts it back.
    const data = (await listSubflows(lab.client.name)).find((f) => f.local === pathB)!;
    using pm = PmCommands.open(lab.client.path);
    const ends = [{ address: data.local, port: data.localPort }, {
      address: data.remote,
      port: data.remotePort,
    }] as const;
    pm.setBackup(parseInt(data.token, 16), ...ends, false);
    const handFlipped = dumpMptcpSubflows(lab.client.path) // diag at once: before the agent's next sample
      .find((f) => f.local === pathB && f.localPort === data.localPort);
    assert.equal(handFlipped?.backupLocal, false, "flipped by hand");
    assert.deepEqual(await flagsBecome(lab, pathB, true), [true, true], "drift repaired (ss)");
    const reloaded = await reloadAgent(sched.id, { ...sched, params: labRoles(lab, "active") });
    assert.ok(reloaded, "the agent took the new launch");
    assert.equal(reloaded.pid, sched.id.pid, "reloaded, not restarted");
    assert.deepEqual(
      await flagsBecome(lab, pathB, false),
      [false, false],
      "B subflows active (ss)",
    );
    await sleep(1000);
    const from = pathTxBytes(lab);
    await sleep(2500);
    const end = pathTxBytes(lab);
    const activeShare = share(end[0] - from[0], end[1] - from[1]);
    console.log(
      `B active: A ${end[0] - from[0]} B ${end[1] - from[1]} bytes, B share ${
        (100 * activeShare).toFixed(1)
      } %`,
    );
    const result = await settled;
    if (result instanceof Error) throw result;
    console.log(`transfer goodput ${result.goodputMbit.toFixed(1)} Mbit/s`);
    const counters = readAgentStatus(sched.statusFile)?.handlerCounters as RolesCounters;
    console.log(JSON.stringify(counters));
    assert.ok(backupShare < 0.05, `B backup share ${backupShare}`);
    assert.ok(activeShare >= 0.3, `B active share ${activeShare}`);
    // The reloaded handler's own counters: one SET_FLAGS per B subflow (iperf3's control
    // and data connections), none repeated: it acts only where the kernel differs.
    assert.equal(counters.flagsSet, 2, `flags set: ${JSON.stringify(counters)}`);
    assert.equal(counters.paths["veth-b"].effective, "active");
    await sched.stop();
  } finally {
    await roles.teardown();
  }
});
