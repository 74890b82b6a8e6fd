// Byte fixtures from uapi linux/mptcp.h for a little-endian host.
import assert from "node:assert/strict";
import {
  bitsToFlags,
  decodeEndpoint,
  decodeLimits,
  encodeEndpoint,
  encodeLimits,
  flagsToBits,
} from "./mptcp_pm_codec.ts";
import { concatBytes } from "./codec.ts";

const bytes = (...b: number[]) => new Uint8Array(b);

// MPTCP_PM_ATTR_ADDR for 10.1.3.1 port 8443 id 7 flags signal|backup ifindex 3.
const ENDPOINT_ATTR = bytes(
  ...[52, 0, 0x01, 0x80], // nla_len 4 + 6 * 8, MPTCP_PM_ATTR_ADDR | NLA_F_NESTED
  ...[6, 0, 1, 0, 2, 0, 0, 0], // FAMILY = AF_INET (u16, host order)
  ...[8, 0, 3, 0, 10, 1, 3, 1], // ADDR4 = 10.1.3.1, network order
  ...[5, 0, 2, 0, 7, 0, 0, 0], // ID = 7
  ...[6, 0, 5, 0, 0xfb, 0x20, 0, 0], // PORT = 8443 = 0x20fb, host order
  ...[8, 0, 6, 0, 5, 0, 0, 0], // FLAGS = signal | backup
  ...[8, 0, 7, 0, 3, 0, 0, 0], // IF_IDX = 3
);

Deno.test("encodeEndpoint() writes ADDR4 in network order and PORT in host order", () => {
  const encoded = encodeEndpoint({
    address: "10.1.3.1",
    id: 7,
    port: 8443,
    flags: ["signal", "backup"],
    ifindex: 3,
  });
  assert.deepEqual(encoded, ENDPOINT_ATTR);
});

Deno.test("decodeEndpoint() reads the same fixture back", () => {
  assert.deepEqual(decodeEndpoint(ENDPOINT_ATTR), {
    id: 7,
    address: "10.1.3.1",
    family: "ipv4",
    port: 8443,
    flags: ["signal", "backup"],
    ifindex: 3,
  });
});

Deno.test("an IPv6 endpoint carries AF_INET6 and 16 address bytes", () => {
  const encoded = encodeEndpoint({ address: "fd00::1", flags: ["subflow"] });
  assert.deepEqual(encoded.subarray(4, 12), bytes(6, 0, 1, 0, 10, 0, 0, 0));
  assert.deepEqual(encoded.subarray(12, 16), bytes(20, 0, 4, 0));
  assert.deepEqual(decodeEndpoint(encoded), {
    id: 0,
    address: "fd00::1",
    family: "ipv6",
    flags: ["subflow"],
  });
});

Deno.test("a DEL_ADDR selector carries only the id", () => {
  assert.deepEqual(encodeEndpoint({ id: 9 }), bytes(12, 0, 1, 0x80, 5, 0, 2, 0, 9, 0, 0, 0));
});

Deno.test("flag names map to uapi bits, laminar is bit 5, unknown bits stay visible", () => {
  assert.equal(flagsToBits(["signal", "subflow", "backup", "fullmesh", "implicit"]), 0x1f);
  assert.equal(flagsToBits(["laminar"]), 32);
  assert.deepEqual(bitsToFlags(0x22), ["subflow", "laminar"]);
  assert.deepEqual(bitsToFlags(0x41), ["signal", "0x40"]);
  assert.throws(() => flagsToBits(["sideways"]), /unknown MPTCP endpoint flag "sideways"/);
});

Deno.test("limits encode as RCV_ADD_ADDRS and SUBFLOWS u32s", () => {
  const encoded = concatBytes(encodeLimits({ subflows: 2, addAddrAccepted: 4 }));
  assert.deepEqual(encoded, bytes(8, 0, 2, 0, 4, 0, 0, 0, 8, 0, 3, 0, 2, 0, 0, 0));
  assert.deepEqual(decodeLimits(encoded), { subflows: 2, addAddrAccepted: 4 });
  assert.deepEqual(encodeLimits({}), []);
});
