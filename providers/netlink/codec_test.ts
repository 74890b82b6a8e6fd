// Fixtures are written byte by byte from the uapi layouts (linux/netlink.h,
// linux/genetlink.h) for a little-endian host.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  attr,
  attrMap,
  attrNested,
  attrS32,
  attrString,
  attrU16,
  attrU32,
  attrU8,
  decodeAttrs,
  decodeDone,
  decodeError,
  decodeGenl,
  decodeMessages,
  encodeGenl,
  encodeMessage,
  HOST_LITTLE_ENDIAN,
  NLM_F,
  NLMSG,
  readS32,
  readString,
  readU16,
  readU32,
  readU8,
} from "./codec.ts";

const bytes = (...b: number[]) => new Uint8Array(b);

Deno.test("the host is little-endian, as the fixtures assume", () => {
  assert.equal(HOST_LITTLE_ENDIAN, true);
});

Deno.test("encodeMessage() lays out a CTRL_CMD_GETFAMILY request for mptcp_pm", () => {
  const body = encodeGenl(3, 1, attrString(2, "mptcp_pm"));
  const msg = encodeMessage({ type: 0x10, flags: NLM_F.REQUEST | NLM_F.ACK, seq: 7, pid: 0 }, body);
  assert.deepEqual(
    msg,
    bytes(
      ...[0x24, 0, 0, 0], // nlmsg_len = 16 + 4 + 16 (padded attribute) = 36
      ...[0x10, 0x00], // nlmsg_type = GENL_ID_CTRL
      ...[0x05, 0x00], // NLM_F_REQUEST | NLM_F_ACK
      ...[7, 0, 0, 0], // nlmsg_seq
      ...[0, 0, 0, 0], // nlmsg_pid
      ...[3, 1, 0, 0], // genlmsghdr: cmd GETFAMILY, version 1, reserved
      ...[13, 0, 2, 0], // nla_len 4 + 9, nla_type CTRL_ATTR_FAMILY_NAME
      ...[0x6d, 0x70, 0x74, 0x63, 0x70, 0x5f, 0x70, 0x6d, 0], // "mptcp_pm\0"
      ...[0, 0, 0], // attribute padding to 4
    ),
  );
});

Deno.test("attributes are padded to 4 bytes and scalars are host order", async (t) => {
  await t.step("u8 takes 8 bytes with its padding", () => {
    assert.deepEqual(attrU8(2, 9), bytes(5, 0, 2, 0, 9, 0, 0, 0));
  });
  await t.step("u16 is little-endian", () => {
    assert.deepEqual(attrU16(1, 0x0a02), bytes(6, 0, 1, 0, 0x02, 0x0a, 0, 0));
  });
  await t.step("u32 needs no padding", () => {
    assert.deepEqual(attrU32(6, 0x01020304), bytes(8, 0, 6, 0, 4, 3, 2, 1));
  });
  await t.step("s32 encodes negatives in two's complement", () => {
    assert.deepEqual(attrS32(7, -2), bytes(8, 0, 7, 0, 0xfe, 0xff, 0xff, 0xff));
  });
  await t.step("raw bytes keep their order (network-order IPv4)", () => {
    assert.deepEqual(attr(3, bytes(10, 1, 2, 1)), bytes(8, 0, 3, 0, 10, 1, 2, 1));
  });
});

Deno.test("attrNested() sets NLA_F_NESTED and wraps the children", () => {
  const nested = attrNested(1, [attrU16(1, 2), attrU8(2, 5)]);
  assert.deepEqual(
    nested,
    bytes(
      ...[20, 0, 0x01, 0x80], // nla_len 4 + 8 + 8, type 1 | NLA_F_NESTED
      ...[6, 0, 1, 0, 2, 0, 0, 0], // FAMILY = AF_INET
      ...[5, 0, 2, 0, 5, 0, 0, 0], // ID = 5
    ),
  );
  const [outer] = decodeAttrs(nested);
  assert.equal(outer.type, 1);
  assert.equal(outer.nested, true);
  const inner = attrMap(outer.value);
  assert.equal(readU16(inner.get(1)!), 2);
  assert.equal(readU8(inner.get(2)!), 5);
});

Deno.test("decodeAttrs() keeps repeated types in order and strips flag bits", () => {
  const stream = bytes(
    ...[8, 0, 0x01, 0x40], // type 1 | NLA_F_NET_BYTEORDER
    ...[1, 2, 3, 4],
    ...[5, 0, 0x01, 0x00], // type 1 again, u8
    ...[9, 0, 0, 0],
  );
  const decoded = decodeAttrs(stream);
  assert.deepEqual(decoded.map((a) => [a.type, a.nested, [...a.value]]), [
    [1, false, [1, 2, 3, 4]],
    [1, false, [9]],
  ]);
});

Deno.test("decodeAttrs() refuses an attribute that overruns the buffer", () => {
  assert.throws(() => decodeAttrs(bytes(12, 0, 1, 0, 1, 2, 3, 4)), /bad nla_len 12/);
  assert.throws(() => decodeAttrs(bytes(2, 0, 1, 0)), /bad nla_len 2/);
});

Deno.test("readers decode values and refuse short ones", () => {
  assert.equal(readU32(bytes(0x78, 0x56, 0x34, 0x12)), 0x12345678);
  assert.equal(readS32(bytes(0xff, 0xff, 0xff, 0xff)), -1);
  assert.equal(readString(bytes(0x6f, 0x6b, 0, 0)), "ok");
  assert.equal(readString(bytes(0x6f, 0x6b)), "ok");
  assert.throws(() => readU32(bytes(1, 2)), /u32 attribute too short/);
});

Deno.test("decodeMessages() splits a datagram holding a multi-part reply and NLMSG_DONE", () => {
  const datagram = bytes(
    ...[0x1c, 0, 0, 0, 0x1d, 0, 0x02, 0, 9, 0, 0, 0, 0x44, 0x33, 0, 0], // len 28, type 29, MULTI
    ...[3, 1, 0, 0], // genl: GET_ADDR
    ...[5, 0, 2, 0, 1, 0, 0, 0], // attribute: u8 id 1
    ...[0x14, 0, 0, 0, 3, 0, 0x02, 0, 9, 0, 0, 0, 0x44, 0x33, 0, 0], // len 20, NLMSG_DONE, MULTI
    ...[0, 0, 0, 0], // status 0
  );
  const [first, done] = decodeMessages(datagram);
  assert.equal(first.type, 29);
  assert.equal(first.flags, NLM_F.MULTI);
  assert.equal(first.seq, 9);
  assert.equal(first.pid, 0x3344);
  const genl = decodeGenl(first.payload);
  assert.equal(genl.cmd, 3);
  assert.equal(readU8(attrMap(genl.attrs).get(2)!), 1);
  assert.equal(done.type, NLMSG.DONE);
  assert.equal(decodeDone(done).errno, 0);
});

Deno.test("decodeMessages() refuses a header whose length overruns the datagram", () => {
  assert.throws(
    () => decodeMessages(bytes(0x40, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0)),
    /bad nlmsg_len 64/,
  );
});

const EEXIST_EXTACK_TEXT = "address already exists";

// NLMSG_ERROR for a capped request (NETLINK_CAP_ACK), with extended-ack TLVs.
function cappedErrorWithExtAck(): Uint8Array {
  return bytes(
    ...[0x48, 0, 0, 0, 2, 0, 0x00, 0x03, 5, 0, 0, 0, 0x10, 0, 0, 0], // len 72, ERROR, CAPPED|ACK_TLVS
    ...[0xef, 0xff, 0xff, 0xff], // error = -17 (EEXIST)
    ...[0x30, 0, 0, 0, 0x1d, 0, 0x05, 0, 5, 0, 0, 0, 0, 0, 0, 0], // echoed header only (len 48)
    ...[27, 0, 1, 0], // NLMSGERR_ATTR_MSG, 4 + 22 chars + NUL
    ...new TextEncoder().encode(EEXIST_EXTACK_TEXT + "\0"),
    0, // padding
    ...[8, 0, 2, 0, 0x18, 0, 0, 0], // NLMSGERR_ATTR_OFFS = 24
  );
}

Deno.test("decodeError() reads errno, request seq and the extended-ack text", () => {
  const [msg] = decodeMessages(cappedErrorWithExtAck());
  assert.equal(msg.type, NLMSG.ERROR);
  assert.deepEqual(decodeError(msg), {
    errno: 17,
    requestSeq: 5,
    extAckMessage: EEXIST_EXTACK_TEXT,
    extAckOffset: 24,
  });
});

Deno.test("decodeError() skips the echoed payload when the reply is not capped", () => {
  const datagram = bytes(
    ...[0x34, 0, 0, 0, 2, 0, 0x00, 0x02, 6, 0, 0, 0, 0, 0, 0, 0], // len 52, ERROR, ACK_TLVS
    ...[0xea, 0xff, 0xff, 0xff], // error = -22 (EINVAL)
    ...[0x18, 0, 0, 0, 0x1d, 0, 0x05, 0, 6, 0, 0, 0, 0, 0, 0, 0], // echoed header, len 24
    ...[5, 1, 0, 0, 0, 0, 0, 0], // echoed payload: genl header + 4 bytes
    ...[8, 0, 5, 0, 1, 0, 0, 0], // NLMSGERR_ATTR_MISS_TYPE = 1
  );
  const status = decodeError(decodeMessages(datagram)[0]);
  assert.deepEqual(status, { errno: 22, requestSeq: 6, missingAttr: 1 });
});

Deno.test("decodeError() reads a plain ACK as errno 0", () => {
  const ack = bytes(
    ...[0x24, 0, 0, 0, 2, 0, 0x00, 0x01, 3, 0, 0, 0, 0, 0, 0, 0], // len 36, ERROR, CAPPED
    ...[0, 0, 0, 0], // error = 0
    ...[0x1c, 0, 0, 0, 0x1d, 0, 0x05, 0, 3, 0, 0, 0, 0, 0, 0, 0],
  );
  assert.deepEqual(decodeError(decodeMessages(ack)[0]), { errno: 0, requestSeq: 3 });
});

Deno.test("decodeDone() reports a dump that failed part-way with its message", () => {
  const done = bytes(
    ...[0x1c, 0, 0, 0, 3, 0, 0x02, 0x02, 4, 0, 0, 0, 0, 0, 0, 0], // len 28, DONE, MULTI|ACK_TLVS
    ...[0xf9, 0xff, 0xff, 0xff], // status = -7
    ...[8, 0, 1, 0, 0x62, 0x61, 0x64, 0], // NLMSGERR_ATTR_MSG "bad"
  );
  assert.deepEqual(decodeDone(decodeMessages(done)[0]), { errno: 7, extAckMessage: "bad" });
});

Deno.test("attributes round-trip through encode and decode", () => {
  const arbAttr = fc.record({
    type: fc.integer({ min: 0, max: 0x3fff }),
    value: fc.uint8Array({ maxLength: 64 }),
  });
  fc.assert(fc.property(fc.array(arbAttr, { maxLength: 8 }), (attrs) => {
    const stream = new Uint8Array(attrs.flatMap((a) => [...attr(a.type, a.value)]));
    assert.equal(stream.length % 4, 0);
    const back = decodeAttrs(stream);
    const sent = attrs.map((a) => ({ type: a.type, value: a.value }));
    assert.deepEqual(back.map((a) => ({ type: a.type, value: new Uint8Array(a.value) })), sent);
  }));
});
