// Pure tests of the roles handler's judgement: a subflow's RTT and loss
// from two tcp_info samples (a blackholed subflow's RTT is the time it has
// held data without an ACK), a path's health (idle subflows say nothing),
// the promote / restore state machine with its hysteresis, and the decoding
// of the tcp_info fields the rule reads.
import assert from "node:assert/strict";
import { FailoverState, judgeSubflow, pathHealth, RECOVER_SAMPLES } from "./roles_health.ts";
import { decodeTcpInfo, subflowKey, type SubflowTcpInfo } from "./roles_diag.ts";
import type { RolePath } from "./roles_spec.ts";

const moving: SubflowTcpInfo = {
  retransmits: 0,
  unacked: 20,
  lastAckRecvMs: 1,
  rttUs: 5000,
  totalRetrans: 10,
  bytesAcked: 1_000_000,
  segsOut: 1000,
};
const later = (d: Partial<SubflowTcpInfo>): SubflowTcpInfo => ({ ...moving, ...d });
const PATHS: RolePath[] = [
  { name: "a", locals: ["10.1.2.1"], role: "active" },
  { name: "b", locals: ["10.1.3.1"], role: "backup" },
];
const rule = { when: { rttMsAbove: 300 }, promote: "b" };

Deno.test("judgeSubflow: RTT is the smoothed one, or the time without an ACK while data is outstanding", () => {
  const healthy = judgeSubflow(moving, later({ bytesAcked: 2e6, segsOut: 1700 }), rule.when);
  assert.deepEqual(healthy, { rttMs: 5, loss: 0, failing: false, moved: true });
  const blackholed = judgeSubflow(moving, later({ lastAckRecvMs: 450 }), rule.when);
  assert.equal(blackholed.rttMs, 450);
  assert.ok(blackholed.failing && !blackholed.moved);
  const idle = judgeSubflow(moving, later({ unacked: 0, lastAckRecvMs: 5000 }), rule.when);
  assert.equal(idle.failing, false, "nothing outstanding: no ACK is due");
});

Deno.test("judgeSubflow: loss is retransmitted over sent since the previous sample; waiting out an RTO is all lost", () => {
  const when = { lossAbove: 0.05 };
  const some = judgeSubflow(moving, later({ segsOut: 1100, totalRetrans: 20 }), when);
  assert.equal(some.loss, 0.1);
  assert.equal(some.failing, true);
  const rto = judgeSubflow(moving, later({ retransmits: 2 }), when);
  assert.equal(rto.loss, 1, "sent nothing, in RTO backoff with data outstanding");
  assert.equal(judgeSubflow(undefined, later({ totalRetrans: 999 }), when).loss, 0, "first sample");
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

Deno.test("FailoverState: promotes when every active path fails, restores after RECOVER_SAMPLES healthy ones", () => {
  const state = new FailoverState(rule, PATHS);
  const a = (failing: boolean, healthy: boolean) => [
    { name: "a", subflows: 2, rttMs: failing ? 900 : 5, loss: 0, failing, healthy },
    { name: "b", subflows: 2, rttMs: 5, loss: 0, failing: false, healthy: false },
  ];
  assert.equal(state.step(a(false, true)), undefined);
  assert.equal(state.step([{ ...a(true, false)[0], subflows: 0 }]), undefined, "no subflows");
  const up = state.step(a(true, false));
  assert.equal(up?.to, "promoted");
  assert.match(up!.reason, /a rtt 900 ms/);
  assert.ok(state.promoted);
  assert.equal(state.step(a(true, false)), undefined, "no flapping while A is still dead");
  for (let i = 1; i < RECOVER_SAMPLES; i++) assert.equal(state.step(a(false, true)), undefined);
  assert.equal(state.step(a(false, false)), undefined, "an idle sample breaks the streak");
  for (let i = 1; i < RECOVER_SAMPLES; i++) state.step(a(false, true));
  assert.equal(state.step(a(false, true))?.to, "declared");
  assert.equal(state.promoted, false);
});

Deno.test("decodeTcpInfo reads the uapi offsets; too short a struct gives undefined", () => {
  const info = new Uint8Array(232);
  const dv = new DataView(info.buffer);
  info[2] = 3;
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
  });
  assert.equal(decodeTcpInfo(info.subarray(0, 104)), undefined);
  const key = { token: 1, local: "10.1.3.1", localPort: 4, remote: "10.1.2.2", remotePort: 80 };
  assert.equal(subflowKey(key), "1 10.1.3.1:4 10.1.2.2:80");
});
