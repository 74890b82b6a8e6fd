// Pure tests of the agent core's decoders, against hand-built kernel byte
// layouts (uapi mptcp_pm.h, inet_diag.h, mptcp.h; proc(5)).
import assert from "node:assert/strict";
import {
  attr,
  attrNested,
  attrString,
  attrU16,
  attrU32,
  attrU8,
  concatBytes,
} from "../netlink/codec.ts";
import { decodeMptcpEvent, MPTCP_ATTR, MPTCP_EVENT, tokenHex } from "./events.ts";
import { decodeDiagConnection, decodeDiagSubflow, encodeDiagRequest } from "./diag_codec.ts";
import { launchHash, parseProcStat } from "./identity.ts";
import { countEvent, newCounters, totalEvents } from "./counters.ts";

const be16 = (type: number, n: number) => attr(type, new Uint8Array([n >> 8, n & 0xff]));

Deno.test("decodeMptcpEvent: a SUB_ESTABLISHED with every field, ports in network order", () => {
  const attrs = concatBytes([
    attrU32(MPTCP_ATTR.TOKEN, 0xdeadbeef),
    attrU16(MPTCP_ATTR.FAMILY, 2),
    attr(MPTCP_ATTR.SADDR4, new Uint8Array([10, 9, 1, 1])),
    attr(MPTCP_ATTR.DADDR4, new Uint8Array([10, 9, 1, 2])),
    be16(MPTCP_ATTR.SPORT, 40000),
    be16(MPTCP_ATTR.DPORT, 7100),
    attrU8(MPTCP_ATTR.LOC_ID, 5),
    attrU8(MPTCP_ATTR.REM_ID, 0),
    attrU8(MPTCP_ATTR.BACKUP, 1),
    attrU32(MPTCP_ATTR.IF_IDX, 3),
    attrU8(MPTCP_ATTR.ERROR, 111),
    attrU32(99, 7), // an attribute a newer kernel may add
  ]);
  assert.deepEqual(decodeMptcpEvent(MPTCP_EVENT.SUB_ESTABLISHED, attrs), {
    type: "SUB_ESTABLISHED",
    token: 0xdeadbeef,
    family: 2,
    saddr: "10.9.1.1",
    daddr: "10.9.1.2",
    sport: 40000,
    dport: 7100,
    locId: 5,
    remId: 0,
    backup: true,
    ifIdx: 3,
    error: 111,
  });
});

Deno.test("decodeMptcpEvent: CLOSED carries the token only; unknown event numbers are undefined", () => {
  assert.deepEqual(decodeMptcpEvent(MPTCP_EVENT.CLOSED, attrU32(MPTCP_ATTR.TOKEN, 1)), {
    type: "CLOSED",
    token: 1,
  });
  assert.equal(decodeMptcpEvent(42, new Uint8Array()), undefined);
  assert.equal(tokenHex(0x0abc), "abc");
});

Deno.test("encodeDiagRequest: MPTCP is asked as TCP with INET_DIAG_REQ_PROTOCOL 262 and INET_DIAG_INFO", () => {
  const req = encodeDiagRequest(10, true);
  assert.equal(req.length, 56 + 8);
  assert.deepEqual([...req.subarray(0, 4)], [10, 6, 2, 0]);
  const dv = new DataView(req.buffer, req.byteOffset);
  assert.equal(dv.getUint32(4, true), 0xffff_ffff, "every state");
  assert.deepEqual([dv.getUint16(58, true), dv.getUint32(60, true)], [3, 262]);
  assert.equal(encodeDiagRequest(2, false).length, 56, "TCP: no protocol attribute");
});

/** A `struct inet_diag_msg` for 10.9.0.1:40000 → 10.9.0.2:7100 (v4-mapped when family 10). */
function diagMsg(family: number, state: number): Uint8Array {
  const msg = new Uint8Array(72);
  const dv = new DataView(msg.buffer);
  msg[0] = family;
  msg[1] = state;
  dv.setUint16(4, 40000, false);
  dv.setUint16(6, 7100, false);
  const put = (at: number, a: number[]) =>
    family === 2 ? msg.set(a, at) : msg.set([...Array(10).fill(0), 0xff, 0xff, ...a], at);
  put(8, [10, 9, 0, 1]);
  put(24, [10, 9, 0, 2]);
  return msg;
}

Deno.test("decodeDiagConnection: the token is mptcp_info offset 12; v4-mapped addresses read as IPv4", () => {
  const info = new Uint8Array(64);
  new DataView(info.buffer).setUint32(12, 0x1234abcd, true);
  const conn = decodeDiagConnection(concatBytes([diagMsg(10, 1), attr(2, info)]));
  assert.deepEqual(
    [conn.token, conn.local, conn.localPort, conn.remote, conn.remotePort, conn.state],
    [0x1234abcd, "10.9.0.1", 40000, "10.9.0.2", 7100, 1],
  );
});

Deno.test("decodeDiagSubflow: ULP info names mptcp with the local token, ids and backup bits", () => {
  const mptcp = attrNested(3, [
    attrU32(2, 0x1234abcd),
    attrU32(1, 0x55),
    attrU32(8, (1 << 5) | (1 << 7)),
    attrU8(9, 2),
    attrU8(10, 5),
  ]);
  const ulp = attrNested(19, [attrString(1, "mptcp"), mptcp]);
  const sf = decodeDiagSubflow(concatBytes([diagMsg(2, 1), ulp]))!;
  assert.deepEqual(
    [sf.token, sf.remoteToken, sf.localId, sf.remoteId, sf.backupLocal, sf.backupRemote],
    [0x1234abcd, 0x55, 5, 2, true, false],
  );
  const tls = attrNested(19, [attrString(1, "tls")]);
  assert.equal(decodeDiagSubflow(concatBytes([diagMsg(2, 1), tls])), undefined);
  assert.equal(decodeDiagSubflow(diagMsg(2, 1)), undefined, "plain TCP");
});

Deno.test("parseProcStat: fields are counted after the last ')' of the command name", () => {
  const rest = "S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0";
  assert.deepEqual(parseProcStat(`42 (a) b (c)) ${rest}`), { state: "S", startTime: 777 });
  assert.equal(parseProcStat("garbage"), undefined);
});

Deno.test("launchHash: key order and the status file do not matter; params and netns do", async () => {
  const base = { kind: "scheduler" as const, name: "u", statusFile: "/a", params: { a: 1, b: 2 } };
  const same = await launchHash({ ...base, statusFile: "/b", params: { b: 2, a: 1 } });
  assert.equal(await launchHash(base), same);
  assert.notEqual(await launchHash({ ...base, params: { a: 1, b: 3 } }), same);
  assert.notEqual(await launchHash({ ...base, netns: "/run/netns/x" }), same);
});

Deno.test("counters: every event type starts at 0 and counts", () => {
  const c = newCounters(1 << 24);
  assert.equal(c.events.LISTENER_CLOSED, 0);
  countEvent(c, "CREATED");
  countEvent(c, "CREATED");
  c.unknownEvents = 1;
  assert.equal(totalEvents(c), 3);
});
