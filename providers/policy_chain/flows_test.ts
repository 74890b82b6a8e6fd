import assert from "node:assert/strict";
import { decodeFlow, FLOW_KEY_SIZE, FLOW_SIZE } from "./flows.ts";

Deno.test("decodeFlow() reads struct pc_flow_key / pc_flow as the program writes them", () => {
  const key = new Uint8Array(FLOW_KEY_SIZE);
  const k = new DataView(key.buffer);
  key.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 3, 1], 0); // ::ffff:10.1.3.1
  key.set([0x20, 0x01, 0x0d, 0xb8], 16); // 2001:db8::1
  key[31] = 1;
  k.setUint16(32, 38831, true);
  k.setUint16(34, 7401, true);
  k.setUint32(36, 3, true);
  const value = new Uint8Array(FLOW_SIZE);
  const v = new DataView(value.buffer);
  [10n, 20n, 1000n, 2000n, 5_000_000n, 9_000_000n].forEach((n, i) =>
    v.setBigUint64(i * 8, n, true)
  );
  v.setUint32(48, 3268, true);
  v.setUint32(52, 25, true);
  v.setUint32(56, 0x98590dde, true);
  v.setUint32(60, (1 << 0) | (1 << 1), true); // MP_CAPABLE, MP_JOIN
  assert.deepEqual(decodeFlow(key, value), {
    rule: 3,
    local: "10.1.3.1",
    localPort: 38831,
    remote: "2001:db8::1",
    remotePort: 7401,
    sent: { packets: 10, bytes: 1000 },
    received: { packets: 20, bytes: 2000 },
    rttUs: 3268,
    rttMinUs: 25,
    token: "98590dde",
    mptcp: ["capable", "join"],
    firstSeenMs: 5,
    lastSeenMs: 9,
  });
});

Deno.test("decodeFlow() reports no RTT and no token when no egress packet was seen", () => {
  const flow = decodeFlow(new Uint8Array(FLOW_KEY_SIZE), new Uint8Array(FLOW_SIZE));
  assert.equal(flow.rttUs, null);
  assert.equal(flow.token, null);
  assert.deepEqual(flow.mptcp, []);
});
