import assert from "node:assert/strict";
import { mptcpifyActions, MptcpifyHook } from "./mptcpify_hook.ts";
import { SpecError } from "../engine/errors.ts";
import { Stack } from "../engine/stack.ts";
import {
  desiredState,
  type MptcpifyDesired,
  type MptcpifyMetaExtra,
  type MptcpifyState,
} from "./mptcpify_hook/desired.ts";
import type { KindMeta, Observed } from "../engine/types.ts";

const LEGACY = "/sys/fs/cgroup/unified/legacy";

function specError(fn: () => unknown): SpecError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SpecError) return e;
    throw e;
  }
  assert.fail("expected a SpecError");
}

Deno.test("MptcpifyHook normalises the spec: sorted, deduplicated, both families by default", () => {
  const hook = new MptcpifyHook("legacy", {
    scope: { commands: ["iperf3", "curl", "curl"], cgroups: [`${LEGACY}/`], uids: [1000, 0] },
  });
  assert.deepEqual(hook.spec, {
    scope: { cgroups: [LEGACY], commands: ["curl", "iperf3"], uids: [0, 1000] },
    exclude: { cgroups: [], commands: [], uids: [] },
    families: ["ipv4", "ipv6"],
  });
});

Deno.test("MptcpifyHook refuses bad specs with field paths", async (t) => {
  await t.step("a command longer than the kernel's 15-byte comm", () => {
    const e = specError(() => new MptcpifyHook("x", { scope: { commands: ["a-very-long-name"] } }));
    assert.match(
      e.message,
      /^x\.scope\.commands\[0\]: a command \(task comm\) is at most 15 bytes/,
    );
  });
  await t.step("a relative cgroup path", () => {
    const e = specError(() => new MptcpifyHook("x", { scope: { cgroups: ["legacy"] } }));
    assert.match(e.message, /^x\.scope\.cgroups\[0\]: a cgroup is an absolute cgroup v2 directory/);
  });
  await t.step("the same command in scope and exclude", () => {
    const e = specError(() =>
      new MptcpifyHook("x", { scope: { commands: ["curl"] }, exclude: { commands: ["curl"] } })
    );
    assert.match(e.message, /^x\.exclude\.commands\[0\]: "curl" is both in scope and excluded/);
  });
  await t.step("an unknown family and an empty family list", () => {
    assert.match(
      specError(() => new MptcpifyHook("x", { families: ["ipv5" as "ipv4"] })).message,
      /^x\.families\[0\]:/,
    );
    assert.match(
      specError(() => new MptcpifyHook("x", { families: [] })).message,
      /^x\.families: name at least one family/,
    );
  });
  await t.step("a negative uid and an unknown field", () => {
    assert.match(
      specError(() => new MptcpifyHook("x", { scope: { uids: [-1] } })).message,
      /^x\.scope\.uids\[0\]: a uid is/,
    );
    assert.match(
      specError(() => new MptcpifyHook("x", { scope: { pids: [1] } } as never)).message,
      /^x\.scope\.pids: unknown field/,
    );
  });
});

Deno.test("a stack holds one MptcpifyHook", () => {
  const stack = new Stack("s", [new MptcpifyHook("a"), new MptcpifyHook("b")]);
  assert.throws(() => stack.ordered(), /b.*a stack holds one MptcpifyHook \("a" is already/);
});

Deno.test("desiredState() builds the maps: exclude bits, match-all for an empty scope", () => {
  const hook = new MptcpifyHook("h", {
    scope: { cgroups: [LEGACY], commands: ["curl"] },
    exclude: { commands: ["sshd"], uids: [0] },
    families: ["ipv6"],
  });
  const { config, entries } = desiredState(hook.spec, { [LEGACY]: "4242" });
  assert.deepEqual(config, { families: 2, matchAll: false, walkCgroups: true });
  assert.deepEqual(entries, {
    cgroups: { "4242": 1 },
    comms: { curl: 1, sshd: 2 },
    uids: { "0": 2 },
  });
  const all = desiredState(new MptcpifyHook("all", { exclude: { commands: ["sshd"] } }).spec, {});
  assert.deepEqual(all.config, { families: 3, matchAll: true, walkCgroups: false });
});

function desiredOf(hook: MptcpifyHook, ids: Record<string, string> = {}): MptcpifyDesired {
  const paths = Object.fromEntries(Object.entries(ids).map(([p, id]) => [id, p]));
  return { objectHash: "h1", ...desiredState(hook.spec, ids), cgroupPaths: paths };
}

function observedFrom(desired: MptcpifyDesired): Observed<MptcpifyState, MptcpifyMetaExtra> {
  const meta: KindMeta<MptcpifyMetaExtra> = {
    kind: "MptcpifyHook",
    name: "h",
    specHash: "s",
    objectHash: desired.objectHash,
    toolVersion: "0",
    extra: { cgroupPaths: {} },
  };
  return {
    meta,
    state: {
      link: { pinned: true, id: 7, progId: 9, progTag: "ab" },
      config: structuredClone(desired.config),
      entries: structuredClone(desired.entries),
    },
  };
}

Deno.test("diff() of a matching kernel is empty", () => {
  const d = desiredOf(new MptcpifyHook("h", { scope: { commands: ["curl"] } }));
  assert.deepEqual(new MptcpifyHook("h").diff(observedFrom(d), d), []);
});

Deno.test("diff() of a create lists families, scope and every entry", () => {
  const hook = new MptcpifyHook("h", { scope: { commands: ["curl"] } });
  const changes = hook.diff(null, desiredOf(hook));
  assert.deepEqual(changes.map((c) => [c.path, c.after]), [
    ["families", "ipv4, ipv6"],
    ["scope", "listed cgroups, commands and uids"],
    ['scope.commands["curl"]', "scope"],
  ]);
  assert.ok(changes.every((c) => c.reason === "new: created with the resource"));
});

Deno.test("diff() of a rescope is hitless map edits only", () => {
  const before = desiredOf(new MptcpifyHook("h", { scope: { commands: ["curl"] } }));
  const hook = new MptcpifyHook("h", {
    scope: { commands: ["iperf3"], cgroups: [LEGACY] },
    exclude: { uids: [0] },
  });
  const changes = hook.diff(observedFrom(before), desiredOf(hook, { [LEGACY]: "77" }));
  assert.deepEqual(changes.map((c) => c.path).sort(), [
    "config",
    "exclude.uids[0]",
    `scope.cgroups[${LEGACY}]`,
    'scope.commands["curl"]',
    'scope.commands["iperf3"]',
  ]);
  assert.ok(changes.every((c) => c.hitless && !c.forcesReplace));
});

Deno.test("diff() reports a missing link pin as drift to repair", () => {
  const d = desiredOf(new MptcpifyHook("h"));
  const observed = observedFrom(d);
  observed.state.link = { pinned: false, id: 0, progId: 0, progTag: null };
  const [change] = new MptcpifyHook("h").diff(observed, d);
  assert.equal(change.path, "link");
  assert.match(change.reason, /hook is detached/);
});

Deno.test("diff() of a new program build attaches a new link; a lost config map forces replace", () => {
  const d = desiredOf(new MptcpifyHook("h"));
  const observed = observedFrom(d);
  observed.meta!.objectHash = "h0";
  assert.deepEqual(new MptcpifyHook("h").diff(observed, d).map((c) => c.path), ["program"]);
  observed.state.config = null;
  const changes = new MptcpifyHook("h").diff(observed, d);
  assert.ok(changes.some((c) => c.path === "config" && c.forcesReplace));
});

Deno.test("diff() labels removed cgroups with the path remembered in the metadata", () => {
  const before = desiredOf(new MptcpifyHook("h", { scope: { cgroups: [LEGACY] } }), {
    [LEGACY]: "77",
  });
  const observed = observedFrom(before);
  observed.meta!.extra = { cgroupPaths: { "77": LEGACY } };
  const hook = new MptcpifyHook("h", { scope: { commands: ["curl"] } });
  const paths = hook.diff(observed, desiredOf(hook)).map((c) => c.path);
  assert.ok(paths.includes(`scope.cgroups[${LEGACY}]`), paths.join(" "));
});

Deno.test("mptcpifyActions() pairs each change with the operation apply runs", () => {
  const before = desiredOf(new MptcpifyHook("h", { scope: { commands: ["curl"] } }));
  const hook = new MptcpifyHook("h", { scope: { commands: ["iperf3"] }, exclude: { uids: [0] } });
  const want = desiredOf(hook);
  const ops = (o: Observed<MptcpifyState, MptcpifyMetaExtra> | null, d: MptcpifyDesired) =>
    mptcpifyActions(o, d).map((a) => [a.change.path, a.op]);
  assert.deepEqual(ops(observedFrom(before), before), []);
  assert.deepEqual(ops(null, before).map(([, op]) => op), [{ op: "build" }, { op: "build" }, {
    op: "build",
  }]);
  assert.deepEqual(ops(observedFrom(before), want), [
    ['scope.commands["iperf3"]', {
      op: "edit-entry",
      edit: { map: "comms", key: "iperf3", bits: 1 },
    }],
    ['scope.commands["curl"]', {
      op: "edit-entry",
      edit: { map: "comms", key: "curl", bits: null, old: 1 },
    }],
    ["exclude.uids[0]", { op: "edit-entry", edit: { map: "uids", key: "0", bits: 2 } }],
  ]);
  const ipv6 = desiredOf(
    new MptcpifyHook("h", { scope: { commands: ["curl"] }, families: ["ipv6"] }),
  );
  assert.deepEqual(ops(observedFrom(before), ipv6), [["families", { op: "write-config" }]]);
  const rebuilt = observedFrom(before);
  rebuilt.meta!.objectHash = "h0";
  assert.deepEqual(ops(rebuilt, before), [["program", { op: "load-program" }]]);
  rebuilt.state.link = { pinned: false, id: 0, progId: 0, progTag: null };
  assert.deepEqual(ops(rebuilt, before), [["link", { op: "attach-link" }]]);
  rebuilt.state.config = null;
  assert.deepEqual(ops(rebuilt, before).at(-1), ["config", { op: "build" }]);
  // The plan shows exactly the changes of these actions.
  const o = observedFrom(before);
  assert.deepEqual(hook.diff(o, want), mptcpifyActions(o, want).map((a) => a.change));
});
