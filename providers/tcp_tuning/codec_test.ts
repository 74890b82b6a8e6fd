import assert from "node:assert/strict";
import { TcpTuning } from "../../resources/tcp_tuning.ts";
import {
  decodeCounters,
  decodeRuleset,
  encodeRuleset,
  HEADER_SIZE,
  RULE_SIZE,
  RULESET_SIZE,
} from "./codec.ts";

const rules = new TcpTuning("dc", {
  cgroup: "/sys/fs/cgroup/unified/web",
  rules: [
    { match: { remote: "10.0.0.0/8" }, set: { synRtoMs: 20, initCwnd: 40, congestion: "bbr" } },
    {
      match: { remote: "2001:db8::/32", remotePorts: [443, "8000-8080"], direction: "passive" },
      set: { sndBuf: 4_194_304, rcvBuf: 4_194_304, noDelay: false },
    },
    {
      match: { local: "10.1.2.0/24", subflow: true },
      set: { congestion: "cubic", maxPacingRate: "20mbit", mark: 0x2, ecn: true },
    },
    { match: { remote: "::/0", subflow: false }, set: { rtoMinMs: 50, delackMaxMs: 10 } },
    { match: { local: "0.0.0.0/0" }, set: { initRwnd: 20 }, sample: 0.1 },
    { match: {}, set: { mark: 0 }, sample: 0 },
  ],
}).spec.rules;

Deno.test("the ruleset round-trips through its byte layout", () => {
  const bytes = encodeRuleset({ hz: 250, seed: 0xdeadbeef, rules });
  assert.equal(bytes.length, RULESET_SIZE);
  const back = decodeRuleset(bytes);
  assert.equal(back.hz, 250);
  assert.equal(back.seed, 0xdeadbeef);
  assert.deepEqual(back.rules, rules);
});

Deno.test("the rule layout matches struct tt_rule", () => {
  const bytes = encodeRuleset({ hz: 1000, seed: 7, rules });
  const view = new DataView(bytes.buffer);
  assert.equal(view.getUint32(0, true), rules.length);
  const first = HEADER_SIZE;
  // remote 10.0.0.0/8 as ::ffff:10.0.0.0, prefix 96 + 8
  assert.deepEqual([...bytes.subarray(first + 16, first + 32)], [
    ...new Array(10).fill(0),
    0xff,
    0xff,
    10,
    0,
    0,
    0,
  ]);
  assert.equal(bytes[first + 33], 104);
  assert.equal(view.getUint32(first + 104, true), 1_000_000); // sample_ppm
  assert.equal(view.getUint32(first + 108, true), 0b1011); // congestion, synRto, initCwnd
  assert.equal(new TextDecoder().decode(bytes.subarray(first + 112, first + 115)), "bbr");
  assert.equal(view.getUint32(first + 128, true), 20);
  const second = HEADER_SIZE + RULE_SIZE;
  assert.equal(bytes[second + 34], 2); // passive
  assert.equal(bytes[second + 37], 2); // two remote port entries
  assert.deepEqual([view.getUint16(second + 76, true), view.getUint16(second + 78, true)], [
    8000,
    8080,
  ]);
  assert.equal(bytes[second + 38], 2); // remote prefix is IPv6-only
  const fourth = HEADER_SIZE + 3 * RULE_SIZE;
  assert.equal(bytes[fourth + 35], 2); // plain TCP only
});

Deno.test("a tampered rule decodes differently", () => {
  const bytes = encodeRuleset({ hz: 250, seed: 1, rules });
  new DataView(bytes.buffer).setUint32(HEADER_SIZE + 128, 999, true);
  assert.equal(decodeRuleset(bytes).rules[0].set.synRtoMs, 999);
  new DataView(bytes.buffer).setUint32(HEADER_SIZE + 108, 1 << 20, true);
  assert.deepEqual(decodeRuleset(bytes).rules[0].set, { unknownBits: 1 << 20 });
});

Deno.test("counters decode as four u64", () => {
  const bytes = new Uint8Array(32);
  new BigUint64Array(bytes.buffer).set([5n, 4n, 1n, 2n]);
  assert.deepEqual(decodeCounters(bytes), { matched: 5, applied: 4, sampledOut: 1, errors: 2 });
});
