/**
 * Property tests over random SocketLookupRedirect specs: nothing but a
 * SpecError ever escapes, every issue names a field, and specs valid by
 * construction validate and expand to the keys they describe.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { SocketLookupRedirect } from "./socket_lookup_redirect.ts";
import { describeKey } from "./socket_lookup_redirect/entries.ts";
import { parseCidr } from "./common/cidr.ts";
import { SpecError } from "../engine/errors.ts";

const KNOWN_FIELDS = ["netns", "bindings", "destinations"];
const STRANGER_FIELDS = ["nets", "binding", "extra", "__proto__", "constructor"];
const LABELS = [
  "d0",
  "d1",
  "a",
  "web",
  "dns",
  "constructor",
  "toString",
  "__proto__",
  "",
  "no space",
];

const anything = fc.anything({ maxDepth: 2 });

const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join("."));
const v6 = fc.ipV6();
const prefix = fc.oneof(
  fc.tuple(v4, fc.integer({ min: -1, max: 40 })).map(([a, n]) => `${a}/${n}`),
  fc.tuple(v6, fc.integer({ min: 0, max: 130 })).map(([a, n]) => `${a}/${n}`),
  v4,
  v6,
  {
    // Mostly well-formed, so the cross-field rules get exercised too.
    weight: 6,
    arbitrary: fc.constantFrom(
      "192.0.2.0/24",
      "2001:db8::/64",
      "0.0.0.0/0",
      "::/0",
      "::ffff:192.0.2.0/120",
      "10.0.0.1/8",
      "1.2.3.4/",
    ),
  },
  fc.string({ maxLength: 12 }),
  anything,
);
const port = fc.oneof(
  fc.integer({ min: -2, max: 65537 }),
  fc.constantFrom(0, 1, 80, 65535, 65536, 1.5, Number.NaN, Infinity),
);
const ports = fc.oneof(
  { weight: 4, arbitrary: port },
  fc.constant("all"),
  fc.tuple(port, port),
  fc.integer({ min: 1, max: 65000 }).map((lo) => [lo, lo + 3]),
  anything,
);
const label = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...LABELS) },
  fc.string({ maxLength: 8 }),
);
const host = fc.oneof(v4, v6.map((a) => `[${a}]`), fc.constantFrom("999.1.1.1", "[1.2.3.4]"));
const listener = fc.oneof(
  fc.tuple(fc.constantFrom("tcp", "udp", "http"), host, fc.integer({ min: 0, max: 99999 }))
    .map(([p, h, n]) => `${p}://${h}:${n}`),
  fc.string({ maxLength: 20 }),
);
const destination = fc.oneof(
  { weight: 4, arbitrary: fc.record({ listener }) },
  fc.record({ pid: fc.integer({ min: -1, max: 5000 }), fd: fc.integer({ min: -1, max: 50 }) }),
  fc.record({ pid: fc.integer() }, { requiredKeys: [] }),
  fc.record({ listener, pid: fc.nat() }),
  anything,
);
const binding = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record(
      { protocol: fc.constantFrom("tcp", "udp"), prefix, ports, to: label },
    ),
  },
  fc.record(
    { protocol: fc.constantFrom("tcp", "udp", "sctp"), prefix, ports, to: label },
    { requiredKeys: ["protocol", "prefix", "ports", "to"] },
  ),
  fc.record(
    { protocol: fc.constantFrom("tcp", "udp"), prefix, ports, to: label, tag: anything },
    { requiredKeys: [] },
  ),
  anything,
);
const spec = fc.record(
  {
    netns: fc.oneof(fc.constantFrom("/run/netns/lab", "run/netns/lab", ""), anything),
    bindings: fc.oneof({ weight: 6, arbitrary: fc.array(binding, { maxLength: 5 }) }, anything),
    destinations: fc.oneof(
      { weight: 6, arbitrary: fc.dictionary(label, destination, { maxKeys: 4 }) },
      anything,
    ),
    stranger: anything,
  },
  { requiredKeys: [] },
).chain((s) =>
  fc.constantFrom(...STRANGER_FIELDS).map((name) => {
    const out: Record<string, unknown> = { ...s };
    if ("stranger" in out) {
      Object.defineProperty(out, name, { value: out.stranger, enumerable: true });
      delete out.stranger;
    }
    return out;
  })
);

/** The first segment of `bindings[0].prefix` / `destinations.a.listener`. */
function topField(path: string): string {
  return path.split(/[.[]/)[0];
}

/** The network part of a 32-bit address (JS shifts count mod 32, so /0 is special). */
function network(addr: number, bits: number): number {
  return bits === 0 ? 0 : ((addr >>> (32 - bits)) << (32 - bits)) >>> 0;
}

/** Distinct (protocol, prefix) bindings with listeners of the matching family and protocol. */
const validSpec = fc.uniqueArray(
  fc.record({
    protocol: fc.constantFrom("tcp" as const, "udp" as const),
    family: fc.constantFrom(4, 6),
    bits: fc.integer({ min: 0, max: 32 }),
    base: fc.maxSafeNat().map((n) => n % 2 ** 32),
    ports: fc.oneof(
      fc.integer({ min: 1, max: 65535 }),
      fc.constant("all" as const),
      fc.integer({ min: 1, max: 65530 }).map((lo) => [lo, lo + 5] as [number, number]),
    ),
  }),
  {
    maxLength: 6,
    selector: (b) => `${b.protocol} ${b.family} ${b.bits} ${network(b.base, b.bits)}`,
  },
).map((raw) => {
  const bindings = raw.map((b, i) => {
    const net = network(b.base, b.bits);
    const quad = [24, 16, 8, 0].map((s) => (net >>> s) & 255);
    const text = b.family === 4
      ? `${quad.join(".")}/${b.bits}`
      : `2001:db8:${((net >>> 16) & 0xffff).toString(16)}:${(net & 0xffff).toString(16)}::/${
        32 + b.bits
      }`;
    return { protocol: b.protocol, prefix: text, ports: b.ports, to: `d${i}` };
  });
  const destinations = Object.fromEntries(raw.map((b, i) => [
    `d${i}`,
    {
      listener: b.family === 4
        ? `${b.protocol}://127.0.0.1:${i + 1}`
        : `${b.protocol}://[::1]:${i + 1}`,
    },
  ]));
  return { bindings, destinations };
});

/**
 * The property for any input: it validates and expands (every entry pointing
 * at a declared destination), or it throws a SpecError whose every issue
 * names a field of the input.
 */
function validatesOrNamesFields(input: Record<string, unknown>): void {
  let resource: SocketLookupRedirect;
  try {
    resource = new SocketLookupRedirect("web", input as never);
  } catch (e) {
    if (!(e instanceof SpecError)) throw e; // anything else is a crash
    assert.ok(e.issues.length > 0);
    for (const issue of e.issues) {
      assert.ok(issue.message.length > 0, JSON.stringify(issue));
      const top = topField(issue.path);
      const named = KNOWN_FIELDS.includes(top) || Object.hasOwn(input, top);
      assert.ok(named, `issue path "${issue.path}" names no field (${issue.message})`);
    }
    assert.ok(e.message.startsWith("web."), e.message);
    return;
  }
  const ids = [...resource.destinationIds().values()];
  const keys = new Set<string>();
  for (const entry of resource.entries()) {
    // Two bindings writing one key would silently overwrite each other.
    assert.ok(!keys.has(entry.key), `two bindings share the key ${describeKey(entry.key)}`);
    keys.add(entry.key);
    assert.ok(ids.includes(entry.destId), `entry without a destination: ${JSON.stringify(entry)}`);
    describeKey(entry.key);
  }
}

Deno.test("random specs validate or fail with SpecError issues that name a field", () => {
  fc.assert(fc.property(spec, validatesOrNamesFields), { numRuns: 2000 });
});

type MutableSpec = { bindings: Record<string, unknown>[]; destinations: Record<string, unknown> };

/** Sets a key as an own property, even "__proto__". */
function setOwn(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    configurable: true,
    writable: true,
  });
}

/** One small edit to a valid spec: most random specs fail early, these probe the cross-field rules. */
const mutation = fc.oneof(
  fc.tuple(
    fc.nat(),
    fc.constantFrom("protocol", "prefix", "ports", "to", "tag"),
    fc.oneof(prefix, ports, label, fc.constantFrom("tcp", "udp", "sctp")),
  ).map(([i, field, value]) => (s: MutableSpec) => {
    if (s.bindings.length) setOwn(s.bindings[i % s.bindings.length], field, value);
  }),
  fc.nat().map((i) => (s: MutableSpec) => {
    if (s.bindings.length) s.bindings.push({ ...s.bindings[i % s.bindings.length] });
  }),
  fc.tuple(label, destination).map(([l, d]) => (s: MutableSpec) => setOwn(s.destinations, l, d)),
  fc.nat().map((i) => (s: MutableSpec) => {
    const labels = Object.keys(s.destinations);
    if (labels.length) delete s.destinations[labels[i % labels.length]];
  }),
  fc.oneof(fc.constantFrom("/run/netns/lab", "run/netns/lab", ""), anything).map(
    (v) => (s: MutableSpec) => setOwn(s, "netns", v),
  ),
  fc.tuple(fc.constantFrom(...STRANGER_FIELDS), anything).map(([k, v]) => (s: MutableSpec) =>
    setOwn(s, k, v)
  ),
);

Deno.test("valid specs with a few random edits validate or name the edited field", () => {
  const mutated = fc.tuple(validSpec, fc.array(mutation, { minLength: 1, maxLength: 3 }))
    .map(([valid, edits]) => {
      const s = structuredClone(valid) as unknown as MutableSpec;
      for (const edit of edits) edit(s);
      return s as unknown as Record<string, unknown>;
    });
  fc.assert(fc.property(mutated, validatesOrNamesFields), { numRuns: 3000 });
});

Deno.test("specs valid by construction validate and expand to the keys they describe", () => {
  fc.assert(
    fc.property(validSpec, (input) => {
      const r = new SocketLookupRedirect("web", input);
      const entries = r.entries();
      const described = input.bindings.flatMap((b) => {
        const canonical = parseCidr(b.prefix);
        assert.ok("text" in canonical, b.prefix);
        const list = b.ports === "all"
          ? [0]
          : typeof b.ports === "number"
          ? [b.ports]
          : Array.from({ length: b.ports[1] - b.ports[0] + 1 }, (_, k) =>
            (b.ports as number[])[0] + k);
        return list.map((p) =>
          `${b.protocol} ${canonical.text} ${p === 0 ? "all ports" : `port ${p}`}`
        );
      });
      assert.deepEqual(entries.map((e) => describeKey(e.key)), described);
      for (const e of entries) {
        assert.equal(e.destId, r.destinationIds().get(input.bindings[e.binding].to));
      }
    }),
    { numRuns: 500 },
  );
});

Deno.test("a prefix with host bits always names its field and the masked prefix", () => {
  fc.assert(
    fc.property(v4, fc.integer({ min: 0, max: 31 }), fc.nat(7), (addr, bits, i) => {
      const octets = addr.split(".").map(Number);
      const value = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
      const hostMask = bits === 0 ? 0xffffffff : (1 << (32 - bits)) - 1;
      fc.pre((value & hostMask) !== 0);
      const bindings = Array.from({ length: i + 1 }, (_, k) => ({
        protocol: "tcp" as const,
        prefix: k === i ? `${addr}/${bits}` : `10.${k}.0.0/16`,
        ports: 80,
        to: "a",
      }));
      try {
        new SocketLookupRedirect("web", { bindings, destinations: { a: { pid: 1, fd: 3 } } });
        assert.fail("validated");
      } catch (e) {
        assert.ok(e instanceof SpecError);
        assert.equal(e.issues.length, 1);
        assert.equal(e.issues[0].path, `bindings[${i}].prefix`);
        assert.match(e.issues[0].message, /^host bits set in .* \(did you mean [0-9.]+\/\d+\?\)$/);
      }
    }),
    { numRuns: 300 },
  );
});
