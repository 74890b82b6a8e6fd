/**
 * Pure tests for the SocketLookupRedirect diff: creates, drift of every kind,
 * and which changes are hitless.
 */
import assert from "node:assert/strict";
import {
  SocketLookupRedirect,
  type SocketLookupRedirectSpecInput,
} from "../socket_lookup_redirect.ts";
import { bindingEntries } from "./entries.ts";
import type { SlrDesired, SlrState } from "./diff.ts";
import type { SlrMetaExtra } from "./ids.ts";
import type { Observed } from "../../engine/types.ts";

const V4 = { listener: "tcp://127.0.0.1:8080" };

type BindingInput = SocketLookupRedirectSpecInput["bindings"][number];

function binding(over: Partial<BindingInput> = {}): BindingInput {
  return { protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "a", ...over };
}

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
function appliedState(desired: SlrDesired): Observed<SlrState, SlrMetaExtra> {
  return {
    meta: {
      kind: "SocketLookupRedirect",
      name: "web",
      specHash: "spec",
      objectHash: desired.objectHash,
      toolVersion: "0.1.0",
      extra: {
        labels: Object.fromEntries(desired.destinations.map((d) => [d.id, d.label])),
        netns: null,
      },
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
    assert.equal(changes[0].after, "tcp://127.0.0.1:8080 (socket cookie 101, id 1)");
    assert.equal(changes[1].after, "pid 4242 fd 5 (socket cookie 100, id 0)");
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
    const changes = r.diff(o, desired);
    // New sockets go in under fresh ids (2, 3: 0, 1 and 7 are in use), bindings
    // move to them, and the old ids go last.
    assert.deepEqual(
      changes.filter((c) => c.path.startsWith("destinations")).map((c) => [c.path, c.after]),
      [
        ["destinations.nginx", "tcp://127.0.0.1:8080 (socket cookie 101, id 2)"],
        ["destinations.apache", "pid 4242 fd 5 (socket cookie 100, id 3)"],
        ["destinations[id 0]", undefined],
        ["destinations[id 7]", undefined],
      ],
    );
    assert.equal(
      changes.find((c) => c.path === "destinations[id 0]")!.before,
      "apache, socket cookie 999",
    );
    assert.deepEqual(changes.filter((c) => c.path.startsWith("bindings")).map((c) => c.path), [
      "bindings[0]",
      "bindings[1]",
      "bindings[2]",
    ]);
    assert.ok(changes.every((c) => c.hitless));
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
