/**
 * Pure tests for SocketLookupRedirect specs: errors with field paths and the
 * one-program-per-netns stack rule. Keys and precedence are tested in
 * socket_lookup_redirect/entries_test.ts, the diff in socket_lookup_redirect/diff_test.ts.
 */
import assert from "node:assert/strict";
import {
  SocketLookupRedirect,
  type SocketLookupRedirectSpecInput,
} from "./socket_lookup_redirect.ts";
import { MAX_DESTINATIONS, MAX_ENTRIES } from "./socket_lookup_redirect/entries.ts";
import { SpecError } from "../engine/errors.ts";
import { Stack } from "../engine/stack.ts";

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
  await t.step("v4-mapped IPv6 prefixes, which could never match, are refused", () => {
    for (const prefix of ["::ffff:0:0/96", "::ffff:192.0.2.0/120"]) {
      const issue = oneIssue({ bindings: [binding({ prefix, to: "b" })], destinations: { b: V6 } });
      assert.equal(issue.path, "bindings[0].prefix", prefix);
      assert.match(issue.message, /v4-mapped IPv6 prefix, which never matches/, prefix);
    }
    // The key's family byte keeps these from catching IPv4 connections.
    for (const prefix of ["::/0", "::/1", "2000::/3", "fc00::/7", "::1/128", "::fffe:0:0/96"]) {
      new SocketLookupRedirect("web", {
        bindings: [binding({ prefix, to: "b" })],
        destinations: { b: V6 },
      });
    }
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
