import assert from "node:assert/strict";
import { PathManager } from "./path_manager.ts";
import { Stack } from "../engine/stack.ts";
import { SpecError } from "../engine/errors.ts";
import { pmActions, type PmResolved } from "./path_manager/diff.ts";
import type { PmMemory, PmState } from "./path_manager/types.ts";

function specError(fn: () => unknown, path: string, message: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SpecError, String(e));
    const issue = e.issues.find((i) => i.path === path);
    assert.ok(issue, `no issue at ${path}: ${e.message}`);
    assert.match(issue.message, message);
    return true;
  });
}

Deno.test("PathManager normalises its spec", () => {
  const pm = new PathManager("edge", {
    netns: "/run/netns/client",
    endpoints: [{ address: "FD00:0::1", flags: ["backup", "subflow"] }],
  });
  assert.deepEqual(pm.spec.endpoints, [{ address: "fd00::1", flags: ["subflow", "backup"] }]);
  assert.equal(pm.spec.exclusive, true);
  assert.deepEqual(pm.spec.sysctls, {});
  const auto = new PathManager("auto", { fromInterfaces: { include: ["veth*"] } });
  assert.deepEqual(auto.spec.fromInterfaces, {
    include: ["veth*"],
    exclude: [],
    families: ["ipv4", "ipv6"],
    flags: ["subflow"],
    skipLinkLocal: true,
  });
});

Deno.test("PathManager refuses bad input with field paths", async (t) => {
  await t.step("fullmesh with signal", () =>
    specError(
      () =>
        new PathManager("x", {
          endpoints: [{ address: "10.0.0.1", flags: ["signal", "fullmesh"] }],
        }),
      "endpoints[0].flags",
      /fullmesh cannot be combined with signal/,
    ));
  await t.step("fullmesh with signal in fromInterfaces", () =>
    specError(
      () =>
        new PathManager("x", { fromInterfaces: { include: ["*"], flags: ["fullmesh", "signal"] } }),
      "fromInterfaces.flags",
      /fullmesh/,
    ));
  await t.step("duplicate addresses", () =>
    specError(
      () =>
        new PathManager("x", {
          endpoints: [{ address: "10.0.0.1" }, { address: "10.0.0.2" }, { address: "10.0.0.1" }],
        }),
      "endpoints[2].address",
      /duplicate: 10.0.0.1 is already endpoints\[0\]/,
    ));
  await t.step("the same address with another port is not a duplicate", () => {
    new PathManager("x", {
      endpoints: [
        { address: "10.0.0.1", flags: ["subflow"] },
        { address: "10.0.0.1", port: 8443, flags: ["signal"] },
      ],
    });
  });
  await t.step("duplicate ids", () =>
    specError(
      () =>
        new PathManager("x", {
          endpoints: [{ address: "10.0.0.1", id: 4 }, { address: "10.0.0.2", id: 4 }],
        }),
      "endpoints[1].id",
      /duplicate: id 4/,
    ));
  await t.step("unknown, implicit and misspelt flags", () => {
    specError(
      () =>
        new PathManager("x", {
          endpoints: [{ address: "10.0.0.1", flags: ["implicit" as never] }],
        }),
      "endpoints[0].flags[0]",
      /set by the kernel only/,
    );
    specError(
      () =>
        new PathManager("x", { endpoints: [{ address: "10.0.0.1", flags: ["subflw" as never] }] }),
      "endpoints[0].flags[0]",
      /unknown flag "subflw"/,
    );
  });
  await t.step("a port without signal", () =>
    specError(
      () =>
        new PathManager("x", {
          endpoints: [{ address: "10.0.0.1", port: 80, flags: ["subflow"] }],
        }),
      "endpoints[0].flags",
      /port must have signal and not subflow/,
    ));
  await t.step("addresses, ids, limits, netns", () => {
    specError(
      () => new PathManager("x", { endpoints: [{ address: "10.0.0.300" }] }),
      "endpoints[0].address",
      /not an IPv4/,
    );
    specError(
      () => new PathManager("x", { endpoints: [{ address: "10.0.0.1", id: 0 }] }),
      "endpoints[0].id",
      /1–255/,
    );
    specError(() => new PathManager("x", { limits: { subflows: -1 } }), "limits.subflows", /≥ 0/);
    specError(() => new PathManager("x", { netns: "client" }), "netns", /absolute path/);
    specError(
      () => new PathManager("x", { endpoints: [], extra: 1 } as never),
      "extra",
      /unknown field/,
    );
  });
  await t.step("MPTCP disabled while endpoints are declared", () =>
    specError(
      () =>
        new PathManager("x", { endpoints: [{ address: "10.0.0.1" }], sysctls: { enabled: false } }),
      "sysctls.enabled",
      /cannot be disabled while endpoints are declared/,
    ));
});

Deno.test("a stack holds at most one PathManager per netns", () => {
  const a = new PathManager("a", { netns: "/run/netns/n1" });
  const b = new PathManager("b", { netns: "/run/netns/n1" });
  const c = new PathManager("c", { netns: "/run/netns/n2" });
  new Stack("ok", [a, c]).validate();
  specError(() => new Stack("bad", [a, c, b]).validate(), "netns", /already has PathManager "a"/);
});

const emptyState = (over: Partial<PmState> = {}): PmState => ({
  netns: "/run/netns/n1",
  netnsIno: 7,
  endpoints: [],
  limits: { subflows: 2, addAddrAccepted: 0 },
  sysctls: { "net.mptcp.enabled": "1" },
  ...over,
});

const resolved = (over: Partial<PmResolved> = {}): PmResolved => ({
  netns: "/run/netns/n1",
  netnsIno: 7,
  endpoints: [{ address: "10.0.0.1", flags: ["subflow"], path: "endpoints[0]" }],
  limits: { subflows: 1 },
  sysctls: {},
  exclusive: true,
  specHash: "h",
  agent: null,
  baseline: emptyState(),
  ...over,
});

const memory: PmMemory = {
  netns: "/run/netns/n1",
  netnsIno: 7,
  original: { endpoints: [], limits: { subflows: 2, addAddrAccepted: 0 }, sysctls: {} },
  owned: ["10.0.0.1|0"],
  managed: { limits: ["subflows"], sysctls: [] },
  exclusive: true,
};

Deno.test("diff() of a new PathManager lists what the create does to the netns", () => {
  const pm = new PathManager("edge", { netns: "/run/netns/n1" });
  const foreign = { id: 3, address: "10.0.0.9", flags: ["signal"] };
  const changes = pm.diff(null, resolved({ baseline: emptyState({ endpoints: [foreign] }) }));
  assert.deepEqual(changes.map((c) => c.path), [
    "limits.subflows",
    "endpoints[0]",
    "endpoints[id 3]",
  ]);
  assert.equal(changes[2].hitless, false);
});

Deno.test("diff() is empty when the kernel matches", () => {
  const pm = new PathManager("edge", { netns: "/run/netns/n1" });
  const state = emptyState({
    endpoints: [{ id: 1, address: "10.0.0.1", flags: ["subflow"] }],
    limits: { subflows: 1, addAddrAccepted: 0 },
  });
  const meta = {
    kind: "PathManager",
    name: "edge",
    specHash: "h",
    objectHash: "",
    toolVersion: "t",
  };
  assert.deepEqual(pm.diff({ meta: { ...meta, extra: { ...memory } }, state }, resolved()), []);
});

Deno.test("diff() replaces the resource when the netns moved or was recreated", () => {
  const pm = new PathManager("edge", { netns: "/run/netns/n1" });
  const meta = {
    kind: "PathManager",
    name: "edge",
    specHash: "h",
    objectHash: "",
    toolVersion: "t",
    extra: null,
  };
  const moved = pm.diff({ meta, state: emptyState({ netns: "/run/netns/old" }) }, resolved());
  assert.equal(moved[0].path, "netns");
  assert.equal(moved[0].forcesReplace, true);
  assert.match(moved[0].reason, /target netns changed/);
  // The live inode follows the path; the one recorded at create does not.
  const recorded = { ...meta, extra: { ...memory, netnsIno: 6 } };
  const recreated = pm.diff({ meta: recorded, state: emptyState() }, resolved());
  assert.match(recreated[0].reason, /recreated/);
  assert.equal(recreated[0].before, "/run/netns/n1 (inode 6)");
  const gone = pm.diff({ meta, state: emptyState({ netnsIno: null }) }, resolved());
  assert.match(gone[0].reason, /gone/);
});

Deno.test("diff() shows a dead policy agent as one change naming its pid; apply's ops are its restart", () => {
  const pm = new PathManager("edge", {
    netns: "/run/netns/n1",
    mode: "userspace",
    policy: { builtin: "ndiffports", subflows: 2 },
  });
  const agent = {
    launch: { kind: "path_manager" as const, name: "s/edge", params: {} },
    hash: "h1",
    version: "v1",
    label: "ndiffports(2)",
    policyKey: "builtin:ndiffports",
  };
  const state = emptyState({
    endpoints: [{ id: 1, address: "10.0.0.1", flags: ["subflow"] }],
    limits: { subflows: 1, addAddrAccepted: 0 },
    agent: { pid: 77, health: "dead", reason: "pid 77 is gone", version: "v1", paramsHash: "" },
  });
  const meta = {
    kind: "PathManager",
    name: "edge",
    specHash: "h",
    objectHash: "",
    toolVersion: "t",
  };
  const observed = { meta: { ...meta, extra: { ...memory } }, state };
  const changes = pm.diff(observed, resolved({ agent }));
  assert.deepEqual(changes.map((c) => c.path), ["policy"]);
  assert.match(changes[0].reason, /agent pid 77 is dead: pid 77 is gone/);
  const actions = pmActions(observed, resolved({ agent }));
  assert.deepEqual(actions.netlink, []);
  assert.equal(actions.agent?.op, "restart");
  const fresh = pmActions(null, resolved({ agent }));
  assert.equal(fresh.agent?.op, "start");
});
