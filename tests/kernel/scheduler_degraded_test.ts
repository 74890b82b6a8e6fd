// The scheduler agent's failover rule on a degraded but live path, with real
// traffic in the two-path lab: path A is cut to 1 Mbit/s behind a 500 ms
// queue (`tc` tbf on both ends) in the middle of a transfer. A promote-only
// rule flapped here (B promoted, A's queue drained, A looked healthy, the
// declared roles came back, A's queue filled again). Now the promotion
// demotes A too, A is held down for `holdMs`, and each probe (the declared
// roles back on probation) that fails doubles the hold: over 16 s the roles
// settle on B (A backup, B active in most `ss -ti` samples) with a small,
// bounded number of flips. The client sends with cubic (iperf3 -C): a loss-based
// sender fills the slow path's queue whenever it carries the load, which is
// what makes the path degraded in the rule's terms (RTT); bbr keeps that
// queue short, and then a slow path passes an RTT threshold.
import assert from "node:assert/strict";
import {
  backupFlags,
  labRoles,
  setDegraded,
  setupRolesLab,
  startRolesAgent,
} from "../../lab/path_roles.ts";
import { runTransfer } from "../../lab/mptcp_transfer.ts";
import { agentLogPath, readAgentStatus } from "../../providers/mptcp_agent/status.ts";
import type { RolesCounters } from "../../providers/mptcp_agent/roles.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WINDOW_MS = 16_000;
const HOLD_MS = 2000;
/** Promotion, then probes at 2 s, ~7 s, ~16 s after it: 5 flips; one more for slack. */
const MAX_FLIPS = 6;

Deno.test("scheduler agent: a degraded active path (1 Mbit/s, 500 ms queue) settles on the backup with bounded flips", async () => {
  const roles = await setupRolesLab("sf-degr");
  try {
    const { lab } = roles;
    const [pathA, pathB] = lab.paths.map((p) => p.clientAddress);
    const rule = { when: { rttMsAbove: 300 }, promote: lab.paths[1].dev, holdMs: HOLD_MS };
    const sched = await startRolesAgent(roles, labRoles(lab, "backup", rule));
    const transfer = runTransfer({
      client: lab.client,
      server: lab.server,
      serverAddress: lab.paths[0].serverAddress,
      mptcp: true,
      seconds: 22,
      congestion: "cubic",
      sampleEveryMs: 0,
    });
    const settled = transfer.catch((err) => err); // the teardown may end it on a failure
    await sleep(3000);
    await setDegraded(lab, 0, true);
    let samples = 0;
    let onB = 0;
    for (const start = Date.now(); Date.now() - start < WINDOW_MS && samples < 200; samples++) {
      const flags = await backupFlags(lab);
      const a = flags.get(pathA) ?? [], b = flags.get(pathB) ?? [];
      if (a.length && b.length && a.every((f) => f) && b.every((f) => !f)) onB++;
      await sleep(200);
    }
    const counters = readAgentStatus(sched.statusFile)?.handlerCounters as
      | RolesCounters
      | undefined;
    console.log(`A backup and B active in ${onB} of ${samples} ss samples`);
    console.log(JSON.stringify(counters));
    console.log(Deno.readTextFileSync(agentLogPath(sched.statusFile)));
    assert.ok(counters && counters.flips >= 1, `the rule promoted B: ${JSON.stringify(counters)}`);
    assert.ok(counters.flips <= MAX_FLIPS, `bounded flips: ${counters.flips} > ${MAX_FLIPS}`);
    assert.ok(onB / samples >= 0.6, `settled on B: ${onB} of ${samples} samples`);
    assert.ok(
      counters.failover!.holdMs >= 2 * HOLD_MS,
      "A failed again on probation: hold doubled",
    );
    const result = await settled;
    if (result instanceof Error) throw result;
    console.log(`transfer goodput ${result.goodputMbit.toFixed(1)} Mbit/s`);
    await sched.stop();
  } finally {
    await roles.teardown();
  }
});
