import assert from "node:assert/strict";
import fc from "fast-check";
import {
  addressBytes,
  canonicalAddress,
  formatAddress,
  inetFamily,
  parseIPv4,
  parseIPv6,
} from "./inet.ts";

Deno.test("parseIPv4() accepts dotted quads and refuses the rest", () => {
  assert.deepEqual(parseIPv4("10.1.2.1"), new Uint8Array([10, 1, 2, 1]));
  for (const bad of ["10.1.2", "10.1.2.256", "10.01.2.1", "a.b.c.d", "10.1.2.1.5", ""]) {
    assert.equal(parseIPv4(bad), undefined, bad);
  }
});

Deno.test("parseIPv6() expands :: and a dotted-quad tail", () => {
  assert.deepEqual([...parseIPv6("fd00::1")!], [0xfd, 0, ...new Array(13).fill(0), 1]);
  assert.deepEqual([...parseIPv6("::ffff:10.1.2.1")!].slice(10), [0xff, 0xff, 10, 1, 2, 1]);
  assert.deepEqual(parseIPv6("::"), new Uint8Array(16));
  for (
    const bad of ["fd00::1::2", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "fe80::1%eth0", "12345::"]
  ) {
    assert.equal(parseIPv6(bad), undefined, bad);
  }
});

Deno.test("formatAddress() writes IPv6 the way inet_ntop does", () => {
  assert.equal(formatAddress(parseIPv6("fd00:0:0:0:0:0:0:1")!), "fd00::1");
  assert.equal(formatAddress(parseIPv6("1:0:2:0:0:3:0:4")!), "1:0:2::3:0:4");
  assert.equal(formatAddress(parseIPv6("1:0:2:3:4:5:6:7")!), "1:0:2:3:4:5:6:7");
  assert.equal(formatAddress(parseIPv6("::")!), "::");
  assert.equal(formatAddress(parseIPv6("::ffff:a01:201")!), "::ffff:10.1.2.1");
  assert.equal(canonicalAddress("FD00:0::1"), "fd00::1");
});

Deno.test("addressBytes() names the text it cannot parse", () => {
  assert.throws(() => addressBytes("10.1.2", "ipv4"), /not an ipv4 address: "10.1.2"/);
  assert.equal(inetFamily("10.1.2.1"), "ipv4");
  assert.equal(inetFamily("fd00::1"), "ipv6");
  assert.equal(inetFamily("eth0"), undefined);
});

Deno.test("IPv4 and IPv6 bytes round-trip through text", () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
    assert.deepEqual(parseIPv6(formatAddress(b)), b);
  }));
  fc.assert(fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (b) => {
    assert.deepEqual(parseIPv4(formatAddress(b)), b);
  }));
});
