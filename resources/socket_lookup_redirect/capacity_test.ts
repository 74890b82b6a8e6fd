/**
 * Pure tests for edits near the bindings map's capacity (issue 12, bug 7):
 * when the hitless order (adds before removals) would not fit, just enough
 * removals go first, and the plan says the change is not hitless and why.
 */
import assert from "node:assert/strict";
import { SocketLookupRedirect } from "../socket_lookup_redirect.ts";
import type { SlrDesired, SlrState } from "./diff.ts";
import type { SlrMetaExtra } from "./ids.ts";
import type { Observed } from "../../engine/types.ts";
import { bindingEdits, encodeKey, MAX_ENTRIES } from "./entries.ts";

const LISTENER = { listener: "tcp://127.0.0.1:8080" };

/** 65,535 entries to `a` plus one binding on 198.51.100.0/24 to `b`: the map is full. */
function full(port: number, to = "b") {
  return new SocketLookupRedirect("web", {
    bindings: [
      { protocol: "tcp", prefix: "192.0.2.0/24", ports: [1, 65535], to: "a" },
      { protocol: "tcp", prefix: "198.51.100.0/24", ports: port, to },
    ],
    destinations: { a: LISTENER, b: LISTENER },
  });
}

function desiredOf(r: SocketLookupRedirect): SlrDesired {
  return {
    netns: "/run/netns/lab",
    netnsIno: 1,
    objectHash: "o",
    entries: r.entries(),
    destinations: [...r.destinationIds()].map(([label, id]) => ({
      label,
      id,
      cookie: String(10 + id),
      source: "tcp://127.0.0.1:8080",
    })),
  };
}

function applied(d: SlrDesired): Observed<SlrState, SlrMetaExtra> {
  return {
    meta: {
      kind: "SocketLookupRedirect",
      name: "web",
      specHash: "",
      objectHash: "o",
      toolVersion: "",
      extra: {
        labels: Object.fromEntries(d.destinations.map((x) => [x.id, x.label])),
        netns: null,
      },
    },
    state: {
      link: { pinned: true, attached: true, netnsIno: 1, progTag: "t" },
      progTag: "t",
      entries: Object.fromEntries(d.entries.map((e) => [e.key, e.destId])),
      destinations: Object.fromEntries(d.destinations.map((x) => [x.id, x.cookie])),
    },
  };
}

Deno.test("bindingEdits() removes first only as many entries as the adds need", () => {
  const [k1, k2, k3, k4, k5] = [1, 2, 3, 4, 5].map((port) =>
    encodeKey("tcp", 4, port, new Uint8Array(16), 96)
  );
  const have = { [k1]: 0, [k2]: 0, [k3]: 0 };
  const want = new Map([[k1, 0], [k2, 1], [k4, 0], [k5, 0]]);
  assert.deepEqual(bindingEdits(have, want, 5), {
    removeFirst: [],
    upsert: [k2, k4, k5],
    removeLast: [k3],
  });
  assert.deepEqual(bindingEdits(have, want, 4), {
    removeFirst: [k3],
    upsert: [k2, k4, k5],
    removeLast: [],
  });
});

Deno.test("plan at capacity: a one-binding move is labelled not hitless, with the reason", async (t) => {
  const before = full(80);
  const deployed = applied(desiredOf(before));
  assert.equal(Object.keys(deployed.state.entries).length, MAX_ENTRIES);
  await t.step("moving a binding needs the old entry out first", () => {
    const next = full(81);
    const changes = next.diff(deployed, desiredOf(next));
    assert.deepEqual(changes.map((c) => [c.path, c.hitless]), [
      ["bindings[1]", true],
      ["bindings", false],
    ]);
    assert.match(
      changes[1].reason,
      /the map holds 65536 and 65536 \+ 1 added do not fit, so 1 are removed before the adds/,
    );
  });
  await t.step("re-pointing an entry in place fits: hitless", () => {
    const next = full(80, "a");
    const changes = next.diff(deployed, desiredOf(next));
    assert.deepEqual(changes.map((c) => [c.path, c.hitless]), [["bindings[1]", true]]);
  });
});
