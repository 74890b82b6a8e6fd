/**
 * Pure tests for stable destination ids: adding, removing or renaming a
 * destination never renumbers another one, and a fresh id is one nothing in
 * the kernel refers to.
 */
import assert from "node:assert/strict";
import {
  SocketLookupRedirect,
  type SocketLookupRedirectSpecInput,
} from "../socket_lookup_redirect.ts";
import type { SlrDesired, SlrState } from "./diff.ts";
import type { SlrMetaExtra } from "./ids.ts";
import type { Observed } from "../../engine/types.ts";
import { socketOps, stableIds } from "./ids.ts";
import { MAX_DESTINATIONS } from "./entries.ts";

const COOKIES: Record<string, string> = { A: "11", B: "22", AA: "33" };
const LISTENER = { listener: "tcp://127.0.0.1:8080" };

function resource(labels: string[], extra: SocketLookupRedirectSpecInput["bindings"] = []) {
  return new SocketLookupRedirect("web", {
    bindings: [
      { protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: labels[0] },
      { protocol: "tcp", prefix: "198.51.100.0/24", ports: 80, to: labels[1] },
      ...extra,
    ],
    destinations: Object.fromEntries(labels.map((l) => [l, LISTENER])),
  });
}

/** The resolved desired state (sorted ids), cookies by label unless `cookie` says otherwise. */
function resolved(r: SocketLookupRedirect, cookie: (label: string) => string = (l) => COOKIES[l]) {
  const ids = r.destinationIds();
  return {
    netns: "/run/netns/lab",
    netnsIno: 1,
    objectHash: "a",
    entries: r.entries(),
    destinations: [...ids].map(([label, id]) => ({
      label,
      id,
      cookie: cookie(label),
      source: "tcp://127.0.0.1:8080",
    })),
  } satisfies SlrDesired;
}

/** What the kernel holds once `d` is applied. */
function applied(d: SlrDesired): Observed<SlrState, SlrMetaExtra> {
  return {
    meta: {
      kind: "SocketLookupRedirect",
      name: "web",
      specHash: "",
      objectHash: d.objectHash,
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

const idsOf = (d: SlrDesired) => Object.fromEntries(d.destinations.map((x) => [x.label, x.id]));
const AA_81 = [{ protocol: "tcp" as const, prefix: "192.0.2.0/24", ports: 81, to: "AA" }];

Deno.test("stableIds() keeps every destination's id across edits", async (t) => {
  const stackA = resolved(resource(["A", "B"]));
  const stackB = resolved(resource(["A", "B", "AA"], AA_81));
  await t.step("issue 12: adding AA (sorted between A and B) leaves B on its id", () => {
    assert.deepEqual(idsOf(stackB), { A: 0, AA: 1, B: 2 }, "sorted order renumbers B");
    const next = stableIds(applied(stackA), stackB);
    assert.deepEqual(idsOf(next), { A: 0, B: 1, AA: 2 });
    const diff = resource(["A", "B", "AA"], AA_81).diff(applied(stackA), stackB);
    assert.deepEqual(diff.map((c) => c.path), ["destinations.AA", "bindings[2]"]);
    assert.ok(diff.every((c) => c.hitless));
  });
  await t.step("removing AA again leaves A and B where they are", () => {
    const deployed = applied(stableIds(applied(stackA), stackB));
    assert.deepEqual(idsOf(stableIds(deployed, stackA)), { A: 0, B: 1 });
    const diff = resource(["A", "B"]).diff(deployed, stackA);
    assert.deepEqual(diff.map((c) => [c.path, c.hitless]), [
      ["destinations[id 2]", true],
      ["bindings", true],
    ]);
  });
  await t.step("a rename keeps the socket's id and only rewrites the metadata", () => {
    const renamed = resolved(resource(["A", "0B"]), (l) => (l === "0B" ? "22" : COOKIES[l]));
    assert.deepEqual(idsOf(stableIds(applied(stackA), renamed)), { A: 0, "0B": 1 });
    const diff = resource(["A", "0B"]).diff(applied(stackA), renamed);
    assert.deepEqual(diff.map((c) => [c.path, c.before, c.after]), [
      ["destinations.0B", "B (id 1)", "0B (id 1)"],
    ]);
  });
  await t.step("a changed socket gets a fresh id; the old one stays until bindings leave", () => {
    const moved = resolved(resource(["A", "B"]), (l) => (l === "B" ? "99" : COOKIES[l]));
    const next = stableIds(applied(stackA), moved);
    assert.deepEqual(idsOf(next), { A: 0, B: 2 });
    const diff = resource(["A", "B"]).diff(applied(stackA), moved);
    assert.deepEqual(diff.map((c) => c.path), [
      "destinations.B",
      "destinations[id 1]",
      "bindings[1]",
    ]);
  });
  await t.step("an id a binding or socket still uses (a killed apply) is never fresh", () => {
    const deployed = applied(stackA);
    deployed.state.entries["ff".repeat(24)] = 2; // left by a kill
    deployed.state.destinations["3"] = "77";
    assert.deepEqual(idsOf(stableIds(deployed, stackB)), { A: 0, B: 1, AA: 4 });
  });
  await t.step("no fresh id left: B's new socket replaces the old in place, not hitless", () => {
    const deployed = applied(stackA);
    for (let id = 2; id < MAX_DESTINATIONS; id++) deployed.state.destinations[id] = `x${id}`;
    const moved = resolved(resource(["A", "B"]), (l) => (l === "B" ? "99" : COOKIES[l]));
    const next = stableIds(deployed, moved);
    assert.deepEqual(next.destinations.map((d) => [d.label, d.id, d.inPlace]), [
      ["A", 0, undefined],
      ["B", 1, true],
    ]);
    const change = resource(["A", "B"]).diff(deployed, moved)
      .find((c) => c.path === "destinations.B")!;
    assert.equal(change.hitless, false);
    assert.match(change.reason, /every destination id is taken.*a rollback leaves the id empty/);
  });
  await t.step("after a kill that put AA's socket in, the next plan adopts its id", () => {
    const deployed = applied(stackA);
    deployed.state.destinations["5"] = COOKIES.AA;
    assert.deepEqual(idsOf(stableIds(deployed, stackB)), { A: 0, B: 1, AA: 5 });
  });
});

Deno.test("socketOps() names the sockets apply puts and the ids it retires, as the plan shows", () => {
  const before = applied(resolved(resource(["A", "B"])));
  const after = stableIds(
    before,
    resolved(resource(["A", "AA"]), (l) => (l === "A" ? "44" : "33")),
  );
  const ops = socketOps(before.state, after);
  assert.deepEqual(ops.put.map((d) => d.label).sort(), ["A", "AA"]);
  // A's socket changed: it goes in under a fresh id, as AA does; A's old id and B's retire.
  assert.deepEqual(idsOf(after), { A: 2, AA: 3 });
  assert.deepEqual(ops.unused, ["0", "1"]);
  const diff = resource(["A", "AA"]).diff(before, after);
  const shown = diff.filter((c) => c.path.startsWith("destinations"));
  assert.deepEqual(
    shown.map((c) => c.path).sort(),
    [
      ...ops.put.map((d) => `destinations.${d.label}`),
      ...ops.unused.map((id) => `destinations[id ${id}]`),
    ]
      .sort(),
  );
});
