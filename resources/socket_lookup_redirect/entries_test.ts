/**
 * Pure tests for the binding key layout (checked against
 * bpf/include/sockform.h) and the precedence ordering of map edits.
 */
import assert from "node:assert/strict";
import {
  SocketLookupRedirect,
  type SocketLookupRedirectSpecInput,
} from "../socket_lookup_redirect.ts";
import {
  bindingEntries,
  bySpecificity,
  describeKey,
  destinationIds,
  encodeKey,
  entryValue,
  FALLTHROUGH,
  KEY_SIZE,
  keyBytes,
  keyHex,
  MAX_DESTINATIONS,
  MAX_ENTRIES,
} from "./entries.ts";

const V4 = { listener: "tcp://127.0.0.1:8080" };

type BindingInput = SocketLookupRedirectSpecInput["bindings"][number];

function binding(over: Partial<BindingInput> = {}): BindingInput {
  return { protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "a", ...over };
}

/** The binding_key struct fields in declaration order, read from the C header. */
function headerStruct(): { fields: [string, string][]; defines: Record<string, number> } {
  const text = Deno.readTextFileSync(new URL("../../bpf/include/sockform.h", import.meta.url));
  const body = /struct binding_key \{([^}]*)\}/.exec(text)![1];
  const fields = [...body.matchAll(/(__u\d+)\s+(\w+)(\[\d+\])?;/g)]
    .map((m) => [m[1] + (m[3] ?? ""), m[2]] as [string, string]);
  const defines: Record<string, number> = {};
  for (const m of text.matchAll(/#define (\w+) (\d+)/g)) defines[m[1]] = Number(m[2]);
  return { fields, defines };
}

Deno.test("binding keys follow the C layout of struct binding_key", async (t) => {
  await t.step("the header still declares the layout encodeKey writes", () => {
    const { fields, defines } = headerStruct();
    assert.deepEqual(fields, [
      ["__u32", "prefixlen"],
      ["__u8", "protocol"],
      ["__u8", "family"],
      ["__u16", "port"],
      ["__u8[16]", "addr"],
    ]);
    assert.equal(KEY_SIZE, 4 + 1 + 1 + 2 + 16);
    assert.equal(defines.BINDING_KEY_FULL_PREFIX, (KEY_SIZE - 4) * 8);
    assert.equal(defines.MAX_BINDINGS, MAX_ENTRIES);
    assert.equal(defines.MAX_DESTINATIONS, MAX_DESTINATIONS);
  });
  await t.step(
    "IPv4 is v4-mapped; prefixlen = 32 + 96 + n; port in host (little-endian) order",
    () => {
      const r = new SocketLookupRedirect("web", { bindings: [binding()], destinations: { a: V4 } });
      const [e] = r.entries();
      assert.equal(
        e.key,
        "98000000" + // prefixlen 152 = 32 + 96 + 24, little-endian u32
          "06" + "04" + "5000" + // IPPROTO_TCP, IPv4, port 80 as little-endian u16
          "00000000000000000000ffff" + "c0000200", // ::ffff:192.0.2.0
      );
      assert.equal(e.prefixlen, 152);
      assert.equal(keyBytes(e.key).length, KEY_SIZE);
    },
  );
  await t.step("IPv6 keeps its address; prefixlen = 32 + n; udp is 17", () => {
    const key = bindingEntries(
      [{ protocol: "udp", prefix: "2001:db8::/64", ports: 5000, to: "d" }],
      new Map([["d", 3]]),
    )[0];
    assert.deepEqual(key, {
      key: "60000000" + "11" + "06" + "8813" + "20010db8000000000000000000000000",
      destId: 3,
      binding: 0,
      prefixlen: 96,
    });
  });
  await t.step('"all" is port 0; /0 prefixes stay within their family', () => {
    assert.equal(
      encodeKey("tcp", 6, 0, new Uint8Array(16), 0),
      "20000000" + "06" + "06" + "0000" + "00".repeat(16),
    );
    const v4all = bindingEntries(
      [binding({ prefix: "0.0.0.0/0", ports: "all" })],
      new Map([["a", 0]]),
    );
    assert.equal(v4all[0].prefixlen, 32 + 96);
    assert.equal(describeKey(v4all[0].key), "tcp 0.0.0.0/0 all ports");
  });
  await t.step("describeKey and keyHex round-trip", () => {
    const ids = destinationIds(["a"]);
    const cases: [BindingInput, string][] = [
      [binding(), "tcp 192.0.2.0/24 port 80"],
      [binding({ prefix: "198.51.100.7/32", ports: "all" }), "tcp 198.51.100.7/32 all ports"],
      [
        binding({ protocol: "udp", prefix: "2001:db8::/64", ports: 53 }),
        "udp 2001:db8::/64 port 53",
      ],
    ];
    for (const [b, text] of cases) {
      const [e] = bindingEntries([b], ids);
      assert.equal(describeKey(e.key), text);
      assert.equal(keyHex(keyBytes(e.key)), e.key);
    }
  });
  await t.step("a port range is one entry per port; ids follow sorted labels", () => {
    const r = new SocketLookupRedirect("web", {
      bindings: [
        binding({ to: "zeta", ports: [5000, 5002] }),
        binding({ to: "alpha", prefix: "198.51.100.0/24" }),
      ],
      destinations: { zeta: V4, alpha: V4 },
    });
    assert.deepEqual([...r.destinationIds()], [["alpha", 0], ["zeta", 1]]);
    const entries = r.entries();
    assert.deepEqual(entries.map((e) => describeKey(e.key)), [
      "tcp 192.0.2.0/24 port 5000",
      "tcp 192.0.2.0/24 port 5001",
      "tcp 192.0.2.0/24 port 5002",
      "tcp 198.51.100.0/24 port 80",
    ]);
    assert.deepEqual(entries.map((e) => [e.binding, e.destId]), [[0, 1], [0, 1], [0, 1], [1, 0]]);
  });
});

Deno.test("a fallthrough destination's entries carry DEST_FALLTHROUGH in their value", () => {
  const r = new SocketLookupRedirect("web", {
    bindings: [binding({ to: "a" }), binding({ prefix: "198.51.100.0/24", to: "b" })],
    destinations: { a: { ...V4, fallthrough: true }, b: V4 },
  });
  const [a, b] = r.entries();
  assert.deepEqual([entryValue(a), entryValue(b)], [0 | FALLTHROUGH, 1]);
  const text = Deno.readTextFileSync(new URL("../../bpf/include/sockform.h", import.meta.url));
  assert.match(text, new RegExp(`#define DEST_FALLTHROUGH \\(1u << ${Math.log2(FALLTHROUGH)}\\)`));
});

Deno.test("bySpecificity() puts specific ports first, then longer prefixes", () => {
  const ids = new Map([["a", 0]]);
  const key = (prefix: string, ports: BindingInput["ports"]) =>
    bindingEntries([binding({ prefix, ports })], ids)[0].key;
  const all24 = key("192.0.2.0/24", "all");
  const all32 = key("192.0.2.10/32", "all");
  const p80_0 = key("0.0.0.0/0", 80);
  const p80_24 = key("192.0.2.0/24", 80);
  const p80_25 = key("192.0.2.0/25", 80);
  const p443_16 = key("10.1.0.0/16", 443);
  const ordered = bySpecificity([all24, p80_0, all32, p80_24, p443_16, p80_25]);
  assert.deepEqual(ordered.map(describeKey), [
    "tcp 192.0.2.0/25 port 80",
    "tcp 192.0.2.0/24 port 80",
    "tcp 10.1.0.0/16 port 443",
    "tcp 0.0.0.0/0 port 80",
    "tcp 192.0.2.10/32 all ports",
    "tcp 192.0.2.0/24 all ports",
  ]);
  assert.deepEqual(bySpecificity([...ordered].reverse()), ordered, "independent of input order");
});
