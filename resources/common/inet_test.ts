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
  assert.deepEqual(parseIPv4("0.0.0.0"), new Uint8Array(4));
  assert.deepEqual(parseIPv4("255.255.255.255"), new Uint8Array([255, 255, 255, 255]));
  const bad = ["10.1.2", "10.1.2.256", "10.01.2.1", "a.b.c.d", "10.1.2.1.5", "", "00.1.2.3"];
  bad.push("1..2.3", ".1.2.3", "1.2.3.", "1.2.3.4 ", "1000.1.1.1", "1.2.3.-4", "１.2.3.4");
  for (const text of bad) {
    assert.equal(parseIPv4(text), undefined, text);
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

Deno.test("parseIPv4() accepts only the canonical text of an address (cidr.ts relies on it)", () => {
  const digits = fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: 1, maxLength: 4 });
  const quads = fc.array(digits, { minLength: 3, maxLength: 5 }).map((parts) => parts.join("."));
  fc.assert(
    fc.property(quads, (text) => {
      const bytes = parseIPv4(text);
      if (bytes) assert.equal(formatAddress(bytes), text);
    }),
    { numRuns: 20_000 },
  );
});
