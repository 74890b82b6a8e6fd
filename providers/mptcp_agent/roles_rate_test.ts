// Pure tests of the failover rule's send-rate condition: a subflow's rate
// is bytes acknowledged per second over the sample window, judged only
// while it holds data all through the window and the kernel did not mark its
// delivery-rate sample application-limited; a path's rate is the sum over
// its busy subflows, and below `sendRateBelow` the path fails even though
// it moves data. An idle path is not slow.
import assert from "node:assert/strict";
import { FailoverState, judgeSubflow, pathHealth } from "./roles_health.ts";
import type { SubflowTcpInfo } from "./roles_diag.ts";
import type { RolePath } from "./roles_spec.ts";
import { schedulerSchema } from "../../resources/scheduler/schema.ts";

const TICK = 250;
const busy: SubflowTcpInfo = {
  retransmits: 0,
  unacked: 20,
  lastAckRecvMs: 1,
  rttUs: 5000,
  totalRetrans: 0,
  bytesAcked: 1_000_000,
  segsOut: 1000,
  appLimited: false,
};
const later = (d: Partial<SubflowTcpInfo>): SubflowTcpInfo => ({ ...busy, ...d });
const when = { sendRateBelow: 250_000 }; // 2 Mbit/s
/** A sample `bytes` after `busy`, `TICK` ms later. */
const acked = (bytes: number, d: Partial<SubflowTcpInfo> = {}) =>
  judgeSubflow(busy, later({ bytesAcked: busy.bytesAcked + bytes, ...d }), when, TICK);

Deno.test("judgeSubflow: send rate is bytes acknowledged per second, only while data is outstanding and not app-limited", () => {
  assert.equal(acked(25_000).sendRate, 100_000, "25 kB in 250 ms");
  assert.equal(acked(25_000).failing, false, "the rate is judged per path, not here");
  assert.equal(acked(25_000, { unacked: 0 }).sendRate, undefined, "nothing outstanding now");
  const wasIdle = judgeSubflow(later({ unacked: 0 }), later({ bytesAcked: 1_001_000 }), when, TICK);
  assert.equal(wasIdle.sendRate, undefined, "nothing outstanding at the start of the window");
  assert.equal(acked(25_000, { appLimited: true }).sendRate, undefined, "app-limited sample");
  assert.equal(judgeSubflow(undefined, busy, when, TICK).sendRate, undefined, "first sample");
  assert.equal(judgeSubflow(busy, busy, when, 0).sendRate, undefined, "no window");
  assert.equal(acked(0, { lastAckRecvMs: 240 }).sendRate, 0, "blackholed: nothing acknowledged");
});

Deno.test("pathHealth: a path whose busy subflows together send below sendRateBelow fails, though it moves data", () => {
  const slow = pathHealth("a", [acked(25_000)], when);
  assert.deepEqual([slow.failing, slow.healthy, slow.sendRate], [true, false, 100_000]);
  const fast = pathHealth("a", [acked(250_000)], when);
  assert.deepEqual([fast.failing, fast.healthy, fast.sendRate], [false, true, 1e6]);
  const shared = pathHealth("a", [acked(40_000), acked(40_000)], when);
  assert.equal(shared.failing, false, "two connections at 1.28 Mbit/s each: the path sends 2.56");
  const idle = pathHealth("a", [acked(0, { unacked: 0 })], when);
  assert.deepEqual([idle.failing, idle.sendRate], [false, undefined], "idle is not slow");
  assert.equal(pathHealth("a", [acked(25_000)]).failing, false, "no rate threshold declared");
});

Deno.test("FailoverState: a slow active path promotes the backup", () => {
  const paths: RolePath[] = [
    { name: "a", locals: ["10.1.2.1"], role: "active" },
    { name: "b", locals: ["10.1.3.1"], role: "backup" },
  ];
  const state = new FailoverState({ when, promote: "b", holdMs: 2000 }, paths);
  const b = pathHealth("b", [], when);
  assert.equal(state.step([pathHealth("a", [acked(250_000)], when), b], 0), undefined);
  const flip = state.step([pathHealth("a", [acked(25_000)], when), b], TICK);
  assert.equal(flip?.to, "promoted");
  assert.match(flip!.reason, /a rtt 5 ms loss 0\.00 rate 0\.80 Mbit\/s/);
  assert.ok(state.demoted("a"));
});

Deno.test("schedulerSchema: failover.when.sendRateBelow takes bytes/s or tc's bit units; errors name the field", () => {
  const parse = (sendRateBelow: unknown) =>
    schedulerSchema.safeParse({
      paths: [{ match: { dev: "a" }, role: "active" }, { match: { dev: "b" }, role: "backup" }],
      failover: { when: { sendRateBelow }, promote: "b" },
    });
  const ok = parse("2mbit");
  assert.ok(ok.success);
  assert.equal(ok.data.failover?.when.sendRateBelow, 250_000);
  assert.equal(parse(1000).data?.failover?.when.sendRateBelow, 1000);
  for (const bad of ["2 mbit", "fast", 0, 1.5]) {
    const r = parse(bad);
    assert.ok(!r.success, String(bad));
    assert.deepEqual(r.error.issues[0].path, ["failover", "when", "sendRateBelow"], String(bad));
  }
});
