/**
 * Pure tests for SocketLookupRedirect: spec errors with field paths, the
 * binding key layout (checked against bpf/include/sockform.h), precedence
 * ordering, the diff and the one-program-per-netns stack rule.
 */
import assert from "node:assert/strict";
import {
  SocketLookupRedirect,
  type SocketLookupRedirectSpecInput,
} from "./socket_lookup_redirect.ts";
import {
  bindingEntries,
  bySpecificity,
  describeKey,
  destinationIds,
  encodeKey,
  KEY_SIZE,
  keyBytes,
  keyHex,
  MAX_DESTINATIONS,
  MAX_ENTRIES,
} from "./socket_lookup_redirect/entries.ts";
import type { SlrDesired, SlrState } from "./socket_lookup_redirect/diff.ts";
import { SpecError } from "../engine/errors.ts";
import { Stack } from "../engine/stack.ts";
import type { Observed } from "../engine/types.ts";

const V4 = { listener: "tcp://127.0.0.1:8080" };
const V6 = { listener: "tcp://[::1]:9000" };
const UDP4 = { listener: "udp://127.0.0.1:5353" };

type BindingInput = SocketLookupRedirectSpecInput["bindings"][number];

function binding(over: Partial<BindingInput> = {}): BindingInput {
  return { protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "a", ...over };
}

/** The SpecError issues a spec produces (fails when it validates). */
function issuesOf(spec: unknown, name = "web"): { path: string; message: string }[] {
  try {
    new SocketLookupRedirect(name, spec as SocketLookupRedirectSpecInput);
  } catch (e) {
    assert.ok(e instanceof SpecError, `expected SpecError, got ${e}`);
    return e.issues;
  }
  assert.fail(`spec validated but should not: ${JSON.stringify(spec)}`);
}

function oneIssue(spec: unknown): { path: string; message: string } {
  const issues = issuesOf(spec);
  assert.equal(issues.length, 1, JSON.stringify(issues));
  return issues[0];
}

Deno.test("SocketLookupRedirect rejects bad specs with field paths", async (t) => {
  await t.step("host bits set, with the suggested prefix", () => {
    const spec = { bindings: [binding({ prefix: "10.0.0.1/8" })], destinations: { a: V4 } };
    try {
      new SocketLookupRedirect("web", spec);
      assert.fail("validated");
    } catch (e) {
      assert.ok(e instanceof SpecError);
      assert.deepEqual(e.issues, [{
        path: "bindings[0].prefix",
        message: "host bits set in 10.0.0.1/8 (did you mean 10.0.0.0/8?)",
      }]);
      assert.equal(
        e.message,
        "web.bindings[0].prefix: host bits set in 10.0.0.1/8 (did you mean 10.0.0.0/8?)",
      );
    }
  });
  await t.step("the index in the path is the failing binding's", () => {
    const bindings = [
      binding(),
      binding({ prefix: "198.51.100.0/24" }),
      binding({ prefix: "2001:db8::1/64", to: "b" }),
    ];
    const issue = oneIssue({ bindings, destinations: { a: V4, b: V6 } });
    assert.equal(issue.path, "bindings[2].prefix");
    assert.match(issue.message, /did you mean 2001:db8::\/64\?/);
  });
  await t.step("prefix that is no address, or too long", () => {
    const bad = oneIssue({ bindings: [binding({ prefix: "web" })], destinations: { a: V4 } });
    assert.equal(bad.path, "bindings[0].prefix");
    const long = oneIssue({
      bindings: [binding({ prefix: "10.0.0.0/33" })],
      destinations: { a: V4 },
    });
    assert.deepEqual(long, {
      path: "bindings[0].prefix",
      message: "prefix length must be 0–32 in 10.0.0.0/33",
    });
  });
  await t.step("unknown destination label names the known ones", () => {
    const issue = oneIssue({ bindings: [binding({ to: "nginx" })], destinations: { a: V4 } });
    assert.deepEqual(issue, {
      path: "bindings[0].to",
      message: 'unknown destination label "nginx" (known: a)',
    });
  });
  await t.step("inherited property names are not labels", () => {
    for (const to of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
      const issue = oneIssue({ bindings: [binding({ to })], destinations: { a: V4 } });
      assert.equal(issue.path, "bindings[0].to", to);
      assert.match(issue.message, /unknown destination label/);
    }
  });
  await t.step("ports outside 1–65535", () => {
    for (const ports of [0, -1, 65536, 70000]) {
      const issue = oneIssue({ bindings: [binding({ ports })], destinations: { a: V4 } });
      assert.deepEqual(issue, { path: "bindings[0].ports", message: "ports must be 1–65535" });
    }
    const range = oneIssue({ bindings: [binding({ ports: [0, 10] })], destinations: { a: V4 } });
    assert.deepEqual(range, { path: "bindings[0].ports[0]", message: "ports must be 1–65535" });
    const upside = oneIssue({ bindings: [binding({ ports: [90, 80] })], destinations: { a: V4 } });
    assert.equal(upside.path, "bindings[0].ports");
    assert.match(upside.message, /lo ≤ hi/);
    for (const ports of [1.5, "80", [1, 2, 3]]) {
      const issue = oneIssue({
        bindings: [binding({ ports: ports as never })],
        destinations: { a: V4 },
      });
      assert.equal(issue.path, "bindings[0].ports", JSON.stringify(ports));
    }
  });
  await t.step("the edges of the port space are valid", () => {
    const r = new SocketLookupRedirect("web", {
      bindings: [binding({ ports: 1 }), binding({ ports: 65535 }), binding({ ports: [2, 3] })],
      destinations: { a: V4 },
    });
    assert.equal(r.entries().length, 4);
  });
  await t.step("overlapping identical bindings", () => {
    const issue = oneIssue({ bindings: [binding(), binding()], destinations: { a: V4 } });
    assert.deepEqual(issue, {
      path: "bindings[1]",
      message: "overlaps bindings[0] (same protocol, prefix 192.0.2.0/24 and ports)",
    });
    const ranges = oneIssue({
      bindings: [binding({ ports: [80, 90] }), binding({ ports: 85 })],
      destinations: { a: V4 },
    });
    assert.equal(ranges.path, "bindings[1]");
    const all = oneIssue({
      bindings: [binding({ ports: "all" }), binding({ ports: "all" })],
      destinations: { a: V4 },
    });
    assert.equal(all.path, "bindings[1]");
  });
  await t.step("a v4-mapped IPv6 prefix is the same map key as its IPv4 prefix", () => {
    const issue = oneIssue({
      bindings: [binding({ prefix: "::ffff:192.0.2.0/120", to: "b" }), binding()],
      destinations: { a: V4, b: V6 },
    });
    assert.equal(issue.path, "bindings[1]");
    assert.match(issue.message, /overlaps bindings\[0\]/);
  });
  await t.step("bindings that only look alike are fine", () => {
    const r = new SocketLookupRedirect("web", {
      bindings: [
        binding(),
        binding({ ports: "all" }), // a specific port beats "all": both have a meaning
        binding({ prefix: "192.0.2.0/25" }),
        binding({ protocol: "udp", to: "u" }),
      ],
      destinations: { a: V4, u: UDP4 },
    });
    assert.equal(r.entries().length, 4);
  });
  await t.step("mixed family between prefix and listener", () => {
    const issue = oneIssue({
      bindings: [binding({ prefix: "2001:db8::/64" })],
      destinations: { a: V4 },
    });
    assert.deepEqual(issue, {
      path: "bindings[0].to",
      message: "mixed families: ipv6 prefix 2001:db8::/64 with ipv4 listener tcp://127.0.0.1:8080",
    });
    const back = oneIssue({ bindings: [binding()], destinations: { a: V6 } });
    assert.match(back.message, /mixed families: ipv4 prefix 192.0.2.0\/24 with ipv6 listener/);
  });
  await t.step("protocol mismatch: tcp binding to a udp listener", () => {
    const issue = oneIssue({ bindings: [binding()], destinations: { a: UDP4 } });
    assert.deepEqual(issue, {
      path: "bindings[0].to",
      message: "a tcp binding cannot go to udp://127.0.0.1:5353 (a udp listener)",
    });
  });
  await t.step("relative netns path", () => {
    const issue = oneIssue({ netns: "run/netns/lab", bindings: [], destinations: {} });
    assert.equal(issue.path, "netns");
    assert.match(issue.message, /absolute path/);
  });
  await t.step("bad listener URLs and destination shapes", () => {
    const url = (listener: string) => oneIssue({ bindings: [], destinations: { a: { listener } } });
    for (const listener of ["http://x:1", "tcp://127.0.0.1", "tcp://::1:80"]) {
      assert.equal(url(listener).path, "destinations.a.listener", listener);
    }
    for (const listener of ["tcp://999.1.1.1:80", "tcp://[1.2.3.4]:80", "tcp://127.0.0.1:99999"]) {
      const issue = url(listener);
      assert.equal(issue.path, "destinations.a.listener", listener);
      assert.ok(issue.message.startsWith(listener), issue.message);
    }
    const half = oneIssue({ bindings: [], destinations: { a: { pid: 1 } } });
    assert.equal(half.path, "destinations.a");
    const label = oneIssue({ bindings: [], destinations: { "no spaces": V4 } });
    assert.equal(label.path, "destinations.no spaces");
    assert.match(label.message, /labels are 1–64 of/);
  });
  await t.step("unknown fields are named where they are", () => {
    assert.deepEqual(
      oneIssue({ bindings: [{ ...binding(), prot: "tcp" }], destinations: { a: V4 } }),
      { path: "bindings[0].prot", message: "unknown field" },
    );
    assert.deepEqual(
      oneIssue({ bindings: [], destinations: {}, netnss: "/run/netns/x" }),
      { path: "netnss", message: "unknown field" },
    );
  });
  await t.step("too many map entries or destinations", () => {
    const entries = oneIssue({
      bindings: [
        binding({ ports: [1, 65535] }),
        binding({ ports: [1, 65535], prefix: "10.0.0.0/8" }),
      ],
      destinations: { a: V4 },
    });
    assert.equal(entries.path, "bindings");
    assert.match(entries.message, new RegExp(`131070 map entries; the map holds ${MAX_ENTRIES}`));
    const destinations = Object.fromEntries(
      Array.from({ length: MAX_DESTINATIONS + 1 }, (_, i) => [`d${i}`, { pid: 1, fd: i }]),
    );
    assert.equal(oneIssue({ bindings: [], destinations }).path, "destinations");
  });
  await t.step("every issue of a spec is reported at once", () => {
    const issues = issuesOf({
      bindings: [binding({ prefix: "10.0.0.1/8" }), binding({ to: "zz", ports: 0 })],
      destinations: { a: V4 },
    });
    assert.deepEqual(issues.map((i) => i.path).sort(), [
      "bindings[0].prefix",
      "bindings[1].ports",
      "bindings[1].to",
    ]);
  });
});

/** The binding_key struct fields in declaration order, read from the C header. */
function headerStruct(): { fields: [string, string][]; defines: Record<string, number> } {
  const text = Deno.readTextFileSync(new URL("../bpf/include/sockform.h", import.meta.url));
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
      ["__u8", "pad"],
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
          "06" + "00" + "5000" + // IPPROTO_TCP, pad, port 80 as little-endian u16
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
      key: "60000000" + "11" + "00" + "8813" + "20010db8000000000000000000000000",
      destId: 3,
      binding: 0,
      prefixlen: 96,
    });
  });
  await t.step('"all" is port 0; /0 prefixes stay within their family', () => {
    assert.equal(
      encodeKey("tcp", 0, new Uint8Array(16), 0),
      "20000000" + "06" + "00" + "0000" + "00".repeat(16),
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

const OBJECT = "a".repeat(64);

function desiredOf(r: SocketLookupRedirect, cookies: Record<string, string> = {}): SlrDesired {
  const ids = r.destinationIds();
  return {
    netns: r.spec.netns ?? "/proc/self/ns/net",
    netnsIno: 4026531840,
    objectHash: OBJECT,
    entries: r.entries(),
    destinations: Object.entries(r.spec.destinations).map(([label, d]) => ({
      label,
      id: ids.get(label)!,
      cookie: cookies[label] ?? String(100 + ids.get(label)!),
      source: "listener" in d ? d.listener : `pid ${d.pid} fd ${d.fd}`,
    })),
  };
}

/** What the kernel would hold right after applying `desired`. */
function appliedState(desired: SlrDesired): Observed<SlrState> {
  return {
    meta: {
      kind: "SocketLookupRedirect",
      name: "web",
      specHash: "spec",
      objectHash: desired.objectHash,
      toolVersion: "0.1.0",
    },
    state: {
      link: { pinned: true, attached: true, netnsIno: desired.netnsIno, progTag: "t1" },
      progTag: "t1",
      entries: Object.fromEntries(desired.entries.map((e) => [e.key, e.destId])),
      destinations: Object.fromEntries(desired.destinations.map((d) => [String(d.id), d.cookie])),
    },
  };
}

function web(): SocketLookupRedirect {
  return new SocketLookupRedirect("web", {
    netns: "/run/netns/lab",
    bindings: [
      binding({ to: "nginx" }),
      binding({ prefix: "198.51.100.0/24", to: "apache" }),
      binding({ prefix: "127.1.0.0/16", ports: [8000, 8002], to: "nginx" }),
    ],
    destinations: { nginx: V4, apache: { pid: 4242, fd: 5 } },
  });
}

Deno.test("diff() of SocketLookupRedirect", async (t) => {
  const r = web();
  const desired = desiredOf(r);
  await t.step("a create lists every destination and every binding, all hitless", () => {
    const changes = r.diff(null, desired);
    assert.deepEqual(changes.map((c) => c.path), [
      "destinations.nginx",
      "destinations.apache",
      "bindings[0]",
      "bindings[1]",
      "bindings[2]",
    ]);
    assert.ok(changes.every((c) => c.hitless && !c.forcesReplace));
    assert.equal(changes[0].after, "tcp://127.0.0.1:8080 (socket cookie 101)");
    assert.equal(changes[1].after, "pid 4242 fd 5 (socket cookie 100)");
    assert.equal(changes[2].after, "tcp 192.0.2.0/24 port 80 → nginx");
    assert.equal(changes[4].after, "tcp 127.1.0.0/16 port 8000 (+2 ports) → nginx");
    assert.ok(changes.every((c) => c.reason === "new: created with the resource"));
  });
  await t.step("the applied state has no changes", () => {
    assert.deepEqual(r.diff(appliedState(desired), desired), []);
  });
  await t.step("drift: link detached, or its pin gone", () => {
    const o = appliedState(desired);
    o.state.link = { ...o.state.link, attached: false, netnsIno: 0 };
    const [c] = r.diff(o, desired);
    assert.deepEqual([c.path, c.before, c.hitless], ["link", "detached", true]);
    assert.match(c.reason, /sk_lookup link detached/);
    o.state.link = { pinned: false, attached: false, netnsIno: 0, progTag: null };
    assert.equal(r.diff(o, desired)[0].before, "missing");
  });
  await t.step("drift: a map entry deleted or repointed", () => {
    const o = appliedState(desired);
    const [first, second] = desired.entries.filter((e) => e.binding === 2);
    delete o.state.entries[first.key];
    o.state.entries[second.key] = 1 - second.destId;
    const [c] = r.diff(o, desired);
    assert.equal(c.path, "bindings[2]");
    assert.equal(c.reason, "1 of 3 map entr(ies) missing");
    assert.equal(c.before, "1 entr(ies) point elsewhere");
    const p = appliedState(desired);
    p.state.entries[desired.entries[0].key] = 1 - desired.entries[0].destId;
    assert.deepEqual(r.diff(p, desired).map((x) => [x.path, x.reason]), [
      ["bindings[0]", "map entries point to another destination"],
    ]);
  });
  await t.step("drift: entries nobody declared", () => {
    const o = appliedState(desired);
    const extra = bindingEntries(
      [binding({ prefix: "203.0.113.0/24", ports: "all" })],
      new Map([["a", 0]]),
    );
    o.state.entries[extra[0].key] = 0;
    const [c] = r.diff(o, desired);
    assert.equal(c.path, "bindings");
    assert.equal(c.before, "tcp 203.0.113.0/24 all ports");
    assert.match(c.reason, /1 map entr\(ies\) not declared/);
    assert.equal(c.after, undefined);
  });
  await t.step("drift: a destination socket closed, replaced, or no longer declared", () => {
    const o = appliedState(desired);
    delete o.state.destinations["1"];
    o.state.destinations["0"] = "999";
    o.state.destinations["7"] = "77";
    assert.deepEqual(r.diff(o, desired).map((c) => [c.path, c.reason]), [
      ["destinations.nginx", "socket not in the SOCKHASH (new, or the old one closed)"],
      ["destinations.apache", "a different socket is in the SOCKHASH"],
      ["destinations[id 7]", "destination no longer declared"],
    ]);
  });
  await t.step("a new program version is a hitless swap, not a replace", () => {
    const o = appliedState(desired);
    o.meta = { ...o.meta!, objectHash: "b".repeat(64) };
    const [c] = r.diff(o, desired);
    assert.deepEqual(
      [c.path, c.before, c.after, c.hitless, c.forcesReplace],
      ["program", "bbbbbbbbbbbb", "aaaaaaaaaaaa", true, undefined],
    );
    assert.match(c.reason, /bpf_link__update_program/);
  });
  await t.step("a foreign program on our link is drift, repaired hitlessly", () => {
    const o = appliedState(desired);
    o.state.link.progTag = "f00";
    const [c] = r.diff(o, desired);
    assert.deepEqual([c.path, c.before, c.hitless], ["program", "tag f00", true]);
  });
  await t.step("a different netns forces a replace", () => {
    const o = appliedState(desired);
    o.state.link.netnsIno = 1;
    const [c] = r.diff(o, desired);
    assert.deepEqual([c.path, c.hitless, c.forcesReplace], ["netns", false, true]);
  });
});

Deno.test("a stack refuses two SocketLookupRedirect resources on one netns", () => {
  const make = (name: string, netns?: string) =>
    new SocketLookupRedirect(name, { ...(netns ? { netns } : {}), bindings: [], destinations: {} });
  const expectRefused = (stack: Stack, resource: string, netnsText: string, other: string) => {
    try {
      stack.validate();
      assert.fail("validated");
    } catch (e) {
      assert.ok(e instanceof SpecError);
      assert.equal(e.resource, resource);
      assert.equal(e.issues[0].path, "netns");
      assert.match(e.message, new RegExp(`${netnsText}.*"${other}"`));
    }
  };
  expectRefused(
    new Stack("s", [
      make("a", "/run/netns/x"),
      make("b", "/run/netns/y"),
      make("c", "/run/netns/x"),
    ]),
    "c",
    "/run/netns/x",
    "a",
  );
  expectRefused(new Stack("s", [make("a"), make("b")]), "b", "caller's netns", "a");
  new Stack("s", [make("a", "/run/netns/x"), make("b", "/run/netns/y"), make("c")]).validate();
});
