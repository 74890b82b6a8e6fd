// The scheduler agent's failover rule on a degraded but live path, with real
// traffic in the two-path lab: path A is cut to 1 Mbit/s behind a 500 ms
// queue (`tc` tbf on both ends) in the middle of a transfer. A promote-only
// rule flapped here (B promoted, A's queue drained, A looked healthy, the
// declared roles came back, A's queue filled again). Now the promotion
// demotes A too, A is held down for `holdMs` (default 3 s), and each probe
// (the declared roles back on probation) that fails doubles the hold: over
// 24 s the roles settle on B (A backup and B active in at least half of the
// `ss -ti` samples, more as the hold grows; a promote-only rule never makes
// A backup) with a small, bounded number of flips. The client sends with cubic (iperf3 -C): a loss-based
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
import { DEFAULT_HOLD_MS } from "../../providers/mptcp_agent/roles_spec.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WINDOW_MS = 24_000;
/** Promotion, probe at 3 s, re-failure (hold 6 s), probe, re-failure (hold 12 s): 5 flips in the window; one more for slack. */
const MAX_FLIPS = 6;

Deno.test("scheduler agent: a degraded active path (1 Mbit/s, 500 ms queue) settles on the backup with bounded flips", async () => {
  const roles = await setupRolesLab("sf-degr");
  try {
    const { lab } = roles;
    const [pathA, pathB] = lab.paths.map((p) => p.clientAddress);
    const rule = { when: { rttMsAbove: 300 }, promote: lab.paths[1].dev }; // default holdMs
    const sched = await startRolesAgent(roles, labRoles(lab, "backup", rule));
    const transfer = runTransfer({
      client: lab.client,
      server: lab.server,
      serverAddress: lab.paths[0].serverAddress,
      mptcp: true,
      seconds: 30,
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
    assert.ok(onB / samples >= 0.5, `settled on B: ${onB} of ${samples} samples`);
    assert.ok(
      counters.failover!.holdMs >= 2 * DEFAULT_HOLD_MS,
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
