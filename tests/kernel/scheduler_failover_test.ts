// The scheduler agent's failover rule with real traffic in the two-path
// lab: path B declared backup, promoted when every active path's RTT passes
// 300 ms. Path A is blackholed (its qdisc on both ends swapped for
// `blackhole`) in the middle of a transfer: the kernel's subflow backup
// flag of B goes off (`ss -ti`), bytes on path B grow (interface counters),
// path A's goes on (demoted, held down), and the agent counts and logs the
// flip. Path A given back: when the hold-down ends the declared roles return
// (B backup again) on probation, and stay. The time from
// the blackhole until B carries 80 % of its rate is printed, not asserted.
import assert from "node:assert/strict";
import {
  backupFlags,
  labRoles,
  pathTxBytes,
  resumeTime,
  ROLES_LAB_MBIT,
  setBlackhole,
  setupRolesLab,
  startRolesAgent,
} from "../../lab/path_roles.ts";
import { runTransfer } from "../../lab/mptcp_transfer.ts";
import { agentLogPath, readAgentStatus } from "../../providers/mptcp_agent/status.ts";
import type { RolesCounters } from "../../providers/mptcp_agent/roles.ts";
import type { TwoPathLab } from "../../lab/two_path_lab.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `ss -ti` (bounded by `ms`) until every subflow from `address` has backup flag `want`; returns the time it took, or undefined. */
async function flagsBecome(lab: TwoPathLab, address: string, want: boolean, ms: number) {
  const start = performance.now();
  while (performance.now() - start < ms) {
    const flags = (await backupFlags(lab)).get(address) ?? [];
    if (flags.length && flags.every((f) => f === want)) return performance.now() - start;
    await sleep(50);
  }
  return undefined;
}

/** The roles counters in the status file once `check` holds (it is written about once a second), bounded. */
async function countersOnce(statusFile: string, check: (c: RolesCounters) => boolean) {
  const deadline = Date.now() + 3000;
  for (;;) {
    const c = readAgentStatus(statusFile)?.handlerCounters as RolesCounters | undefined;
    if ((c && check(c)) || Date.now() > deadline) return c;
    await sleep(100);
  }
}

Deno.test("scheduler agent: a blackholed active path promotes the backup, goodput resumes on it, roles return after recovery", async () => {
  const roles = await setupRolesLab("sf-fail");
  try {
    const { lab } = roles;
    const rule = { when: { rttMsAbove: 300 }, promote: lab.paths[1].dev, holdMs: 6000 };
    const sched = await startRolesAgent(roles, labRoles(lab, "backup", rule));
    const transfer = runTransfer({
      client: lab.client,
      server: lab.server,
      serverAddress: lab.paths[0].serverAddress,
      mptcp: true,
      seconds: 20,
      sampleEveryMs: 0,
    });
    const settled = transfer.catch((err) => err); // the teardown may end it on a failure
    const [pathA, pathB] = lab.paths.map((p) => p.clientAddress);
    assert.notEqual(await flagsBecome(lab, pathB, true, 5000), undefined, "B backup before");
    await sleep(2000);
    const before = pathTxBytes(lab);
    const blackholedAt = performance.now();
    await setBlackhole(lab, 0, true);
    const resumed = await resumeTime(lab, 1, blackholedAt, 5000);
    const flipped = await flagsBecome(lab, pathB, false, 3000);
    const demoted = await flagsBecome(lab, pathA, true, 3000);
    await sleep(1000);
    const after = pathTxBytes(lab);
    console.log(
      `blackhole → B at 80 % of ${ROLES_LAB_MBIT} Mbit/s: ${
        resumed?.toFixed(0) ?? "never (5 s)"
      } ms`,
    );
    console.log(`B bytes during the outage: ${after[1] - before[1]}`);
    assert.notEqual(flipped, undefined, "B subflows promoted to active (ss -ti)");
    assert.notEqual(demoted, undefined, "A subflows demoted to backup (ss -ti)");
    assert.ok(after[1] - before[1] > 1e6, `B carried the transfer: ${after[1] - before[1]} bytes`);
    await setBlackhole(lab, 0, false);
    const restored = await flagsBecome(lab, pathB, true, 15_000);
    console.log(`A given back → B backup again: ${restored?.toFixed(0) ?? "never (15 s)"} ms`);
    const counters = await countersOnce(sched.statusFile, (c) => c.lastFlip?.to === "declared");
    console.log(JSON.stringify(counters));
    console.log(Deno.readTextFileSync(agentLogPath(sched.statusFile)));
    assert.notEqual(restored, undefined, "declared roles back after A recovered (ss -ti)");
    assert.equal(counters?.lastFlip?.to, "declared", JSON.stringify(counters));
    assert.ok(
      counters.flips === 2 || counters.flips === 4,
      `promoted, maybe one failed probe while A was still dead, declared roles back: ${counters.flips}`,
    );
    assert.equal(counters.paths["veth-b"].effective, "backup");
    assert.equal(counters.paths["veth-a"].effective, "active");
    const result = await settled;
    if (result instanceof Error) throw result;
    console.log(`transfer goodput ${result.goodputMbit.toFixed(1)} Mbit/s`);
    await sched.stop();
  } finally {
    await roles.teardown();
  }
});
