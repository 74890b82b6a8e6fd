// Pure tests of the roles handler's judgement: a subflow's RTT and loss
// from two tcp_info samples (a blackholed subflow's RTT is the time it has
// held data without an ACK), a path's health (idle subflows say nothing),
// the promote / demote / hold-down / probation state machine (a degraded
// path settles on the promoted one, a healed one comes back), and the decoding
// of the tcp_info fields the rule reads.
import assert from "node:assert/strict";
import {
  FailoverState,
  judgeSubflow,
  type PathHealth,
  pathHealth,
  PROBATION_HOLDS,
} from "./roles_health.ts";
import { decodeTcpInfo, subflowKey, type SubflowTcpInfo } from "./roles_diag.ts";
import { DEFAULT_HOLD_MS, MAX_HOLD_DOUBLINGS, type RolePath } from "./roles_spec.ts";

const moving: SubflowTcpInfo = {
  retransmits: 0,
  unacked: 20,
  lastAckRecvMs: 1,
  rttUs: 5000,
  totalRetrans: 10,
  bytesAcked: 1_000_000,
  segsOut: 1000,
  appLimited: false,
};
const later = (d: Partial<SubflowTcpInfo>): SubflowTcpInfo => ({ ...moving, ...d });
const PATHS: RolePath[] = [
  { name: "a", locals: ["10.1.2.1"], role: "active" },
  { name: "b", locals: ["10.1.3.1"], role: "backup" },
];
const rule = { when: { rttMsAbove: 300 }, promote: "b" };

Deno.test("judgeSubflow: RTT is the smoothed one, or the time without an ACK while data is outstanding", () => {
  const healthy = judgeSubflow(moving, later({ bytesAcked: 2e6, segsOut: 1700 }), rule.when, TICK);
  assert.deepEqual(healthy, { rttMs: 5, loss: 0, failing: false, moved: true, sendRate: 4e6 });
  const blackholed = judgeSubflow(moving, later({ lastAckRecvMs: 450 }), rule.when, TICK);
  assert.equal(blackholed.rttMs, 450);
  assert.ok(blackholed.failing && !blackholed.moved);
  const idle = judgeSubflow(moving, later({ unacked: 0, lastAckRecvMs: 5000 }), rule.when, TICK);
  assert.equal(idle.failing, false, "nothing outstanding: no ACK is due");
});

Deno.test("judgeSubflow: loss is retransmitted over sent since the previous sample; waiting out an RTO is all lost", () => {
  const when = { lossAbove: 0.05 };
  const some = judgeSubflow(moving, later({ segsOut: 1100, totalRetrans: 20 }), when, TICK);
  assert.equal(some.loss, 0.1);
  assert.equal(some.failing, true);
  const rto = judgeSubflow(moving, later({ retransmits: 2 }), when, TICK);
  assert.equal(rto.loss, 1, "sent nothing, in RTO backoff with data outstanding");
  assert.equal(
    judgeSubflow(undefined, later({ totalRetrans: 999 }), when, TICK).loss,
    0,
    "first sample",
  );
});

Deno.test("pathHealth: fails only when no subflow shows health; an idle subflow hides nothing", () => {
  const bad = { rttMs: 900, loss: 1, failing: true, moved: false };
  const idle = { rttMs: 5, loss: 0, failing: false, moved: false };
  const good = { rttMs: 5, loss: 0, failing: false, moved: true };
  assert.equal(pathHealth("a", [bad, idle]).failing, true);
  assert.equal(pathHealth("a", [bad, good]).failing, false, "another connection moves data");
  assert.equal(pathHealth("a", [good, idle]).healthy, true);
  assert.equal(pathHealth("a", [idle]).healthy, false, "idle: no evidence either way");
  assert.equal(pathHealth("a", []).rttMs, 0);
});

const health = (name: string, failing: boolean, healthy: boolean, subflows = 2): PathHealth => ({
  name,
  subflows,
  rttMs: failing ? 900 : 5,
  loss: 0,
  failing,
  healthy,
});
const sample = (aFailing: boolean, aHealthy: boolean) => [
  health("a", aFailing, aHealthy),
  health("b", false, false),
];
const TICK = 250;

Deno.test("FailoverState: promotes and demotes the failed path, holds it down, restores on probation", () => {
  const state = new FailoverState({ ...rule, holdMs: 2000 }, PATHS);
  let now = 0;
  assert.equal(state.step(sample(false, true), now), undefined);
  assert.equal(state.step([{ ...sample(true, false)[0], subflows: 0 }], now), undefined);
  const up = state.step(sample(true, false), now += TICK);
  assert.equal(up?.to, "promoted");
  assert.match(up!.reason, /a rtt 900 ms.*b promoted, a backup for 2000 ms/);
  assert.ok(state.promoted && state.demoted("a") && !state.demoted("b"));
  const promotedAt = now;
  while ((now += TICK) < promotedAt + 2000) {
    assert.equal(state.step(sample(false, false), now), undefined, `held down at ${now}`);
  }
  const back = state.step(sample(false, false), now);
  assert.equal(back?.to, "declared");
  assert.match(back!.reason, /a held down for 2000 ms: declared roles back on probation/);
  assert.equal(state.phase, "probation");
  assert.ok(!state.demoted("a"));
  for (let i = 1; i < PROBATION_HOLDS * 2000 / TICK; i++) {
    assert.equal(state.step(sample(false, true), now += TICK), undefined);
    assert.equal(state.phase, "probation", `still on probation at ${now}`);
  }
  state.step(sample(false, true), now += TICK);
  assert.equal(state.phase, "declared", "healthy on probation for PROBATION_HOLDS holds");
  assert.equal(state.holdMs, 2000);
});

Deno.test("FailoverState: a re-failure on probation doubles the hold, bounded; a degraded path settles on the promoted one", () => {
  // A degraded path: idle while backup, failing 4 s (16 samples) after it carries the load again.
  const state = new FailoverState(rule, PATHS);
  let flips = 0;
  let promotedTicks = 0;
  let loaded = 0;
  const holds: number[] = [];
  const ticks = 120_000 / TICK;
  for (let i = 0, now = 0; i < ticks; i++, now += TICK) {
    loaded = state.promoted ? 0 : loaded + 1;
    const flip = state.step(sample(loaded > 16, loaded <= 16), now);
    if (flip) flips++;
    if (flip?.to === "promoted") holds.push(state.holdMs);
    if (state.promoted) promotedTicks++;
  }
  const max = DEFAULT_HOLD_MS * 2 ** MAX_HOLD_DOUBLINGS;
  assert.deepEqual(
    holds,
    [DEFAULT_HOLD_MS, 6000, 12_000, 24_000, max, max],
    "doubling, then bounded",
  );
  assert.equal(flips, 11, "two minutes of a degraded path: 6 promotions, 5 probes");
  assert.ok(promotedTicks / ticks > 0.75, `on B ${promotedTicks} of ${ticks} samples`);
});

Deno.test("FailoverState: a blackhole that heals returns to the declared roles, and the hold to its base", () => {
  const state = new FailoverState({ ...rule, holdMs: 1000 }, PATHS);
  let now = 0;
  const run = (aFailing: boolean, ms: number) => {
    const flips: string[] = [];
    for (const end = now + ms; now < end; now += TICK) {
      const flip = state.step(
        sample(aFailing && !state.promoted, !aFailing && !state.promoted),
        now,
      );
      if (flip) flips.push(flip.to);
    }
    return flips;
  };
  assert.deepEqual(run(true, 2500), ["promoted", "declared", "promoted"], "dead on probation");
  assert.equal(state.holdMs, 2000);
  assert.deepEqual(run(false, 12_000), ["declared"], "healed: back at the next probe, for good");
  assert.equal(state.phase, "declared");
  assert.equal(state.holdMs, 1000);
});

Deno.test("decodeTcpInfo reads the uapi offsets; too short a struct gives undefined", () => {
  const info = new Uint8Array(232);
  const dv = new DataView(info.buffer);
  info[2] = 3;
  info[7] = 0x01; // delivery_rate_app_limited
  dv.setUint32(24, 7, true);
  dv.setUint32(56, 812, true);
  dv.setUint32(68, 4321, true);
  dv.setUint32(100, 9, true);
  dv.setBigUint64(120, 123_456_789n, true);
  dv.setUint32(136, 5000, true);
  assert.deepEqual(decodeTcpInfo(info), {
    retransmits: 3,
    unacked: 7,
    lastAckRecvMs: 812,
    rttUs: 4321,
    totalRetrans: 9,
    bytesAcked: 123_456_789,
    segsOut: 5000,
    appLimited: true,
  });
  assert.equal(decodeTcpInfo(info.subarray(0, 104)), undefined);
  const key = { token: 1, local: "10.1.3.1", localPort: 4, remote: "10.1.2.2", remotePort: 80 };
  assert.equal(subflowKey(key), "1 10.1.3.1:4 10.1.2.2:80");
});
