// The scheduler agent's send-rate condition with real traffic in the
// two-path lab: path B declared backup, promoted when path A's send rate
// (bytes acknowledged per second over its busy subflows, from tcp_info)
// falls below 2 Mbit/s. Path A is throttled to 1 Mbit/s (`tbf` on both
// ends) in the middle of a transfer. The client sends with bbr, which keeps
// the slow path's queue short, so an RTT threshold does not see this path
// as failing: only its rate does. The kernel's subflow backup flag of B
// goes off (`ss -ti`). The data already queued on A's subflows still has
// to drain through A at 1 Mbit/s (the kernel reinjects only from a stalled
// subflow, not a slow one), and the connection is head-of-line blocked
// meanwhile (about 6 s here); once A has drained, B carries at least half
// of the bytes (interface counters). The drain time is printed, not
// asserted. Checked to fail with the send-rate judgement disabled: nothing
// promotes B.
import assert from "node:assert/strict";
import {
  backupFlags,
  labRoles,
  pathTxBytes,
  ROLES_LAB_MBIT,
  setPathRate,
  setupRolesLab,
  startRolesAgent,
} from "../../lab/path_roles.ts";
import { runTransfer } from "../../lab/mptcp_transfer.ts";
import { agentLogPath, readAgentStatus } from "../../providers/mptcp_agent/status.ts";
import type { RolesCounters } from "../../providers/mptcp_agent/roles.ts";
import type { TwoPathLab } from "../../lab/two_path_lab.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** 2 Mbit/s in bytes/s: above the throttled path's 1 Mbit/s, far below the lab's 20. */
const SEND_RATE_BELOW = 250_000;

/** Waits (bounded by `ms`) until path A sends less than a fifth of `mbit` over a second; returns the time it took. */
async function drained(lab: TwoPathLab, mbit: number, ms: number) {
  const start = performance.now();
  while (performance.now() - start < ms) {
    const before = pathTxBytes(lab)[0];
    await sleep(1000);
    if (pathTxBytes(lab)[0] - before < 0.2 * mbit * 1e6 / 8) return performance.now() - start;
  }
  return undefined;
}

/** Polls `ss -ti` (bounded by `ms`) until every subflow from `address` has backup flag `want`. */
async function flagsBecome(lab: TwoPathLab, address: string, want: boolean, ms: number) {
  const start = performance.now();
  while (performance.now() - start < ms) {
    const flags = (await backupFlags(lab)).get(address) ?? [];
    if (flags.length && flags.every((f) => f === want)) return performance.now() - start;
    await sleep(50);
  }
  return undefined;
}

Deno.test("scheduler agent: a path throttled below sendRateBelow promotes the backup, which then carries most bytes", async () => {
  const roles = await setupRolesLab("sf-rate");
  try {
    const { lab } = roles;
    const rule = {
      when: { sendRateBelow: SEND_RATE_BELOW },
      promote: lab.paths[1].dev,
      holdMs: 20_000,
    };
    const sched = await startRolesAgent(roles, labRoles(lab, "backup", rule));
    const transfer = runTransfer({
      client: lab.client,
      server: lab.server,
      serverAddress: lab.paths[0].serverAddress,
      mptcp: true,
      seconds: 26,
      sampleEveryMs: 0,
      congestion: "bbr",
    });
    const settled = transfer.catch((err) => err); // the teardown may end it on a failure
    const [pathA, pathB] = lab.paths.map((p) => p.clientAddress);
    assert.notEqual(await flagsBecome(lab, pathB, true, 5000), undefined, "B backup before");
    await sleep(2000);
    const status = () => readAgentStatus(sched.statusFile)?.handlerCounters as RolesCounters;
    assert.equal(status()?.flips, 0, "a fast path A is not failing");
    await setPathRate(lab, 0, 1);
    const flipped = await flagsBecome(lab, pathB, false, 5000);
    const demoted = await flagsBecome(lab, pathA, true, 2000);
    const drainMs = await drained(lab, 1, 15_000);
    const before = pathTxBytes(lab);
    await sleep(3000);
    const after = pathTxBytes(lab);
    const [a, b] = [after[0] - before[0], after[1] - before[1]];
    console.log(`throttled A → B active (ss -ti): ${flipped?.toFixed(0) ?? "never (5 s)"} ms`);
    console.log(`A's queued data drained through A in ${drainMs?.toFixed(0) ?? "never (15 s)"} ms`);
    console.log(`3 s after that: A ${a} bytes, B ${b} bytes`);
    const counters = status();
    console.log(JSON.stringify(counters));
    console.log(Deno.readTextFileSync(agentLogPath(sched.statusFile)));
    assert.notEqual(flipped, undefined, "B subflows promoted to active (ss -ti)");
    assert.notEqual(demoted, undefined, "A subflows demoted to backup (ss -ti)");
    assert.notEqual(drainMs, undefined, "A's queue drained within 15 s");
    assert.ok(b >= 0.5 * (a + b), `B carries ≥ 50 % of the bytes: A ${a}, B ${b}`);
    assert.match(counters?.lastFlip?.reason ?? "", /veth-a rtt \d+ ms loss [\d.]+ rate [\d.]+/);
    await setPathRate(lab, 0, ROLES_LAB_MBIT);
    const result = await settled;
    if (result instanceof Error) throw result;
    await sched.stop();
  } finally {
    await roles.teardown();
  }
});
