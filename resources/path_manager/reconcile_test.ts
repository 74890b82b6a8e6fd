import assert from "node:assert/strict";
import { orderedOps, type PmTarget, reconcile, restoreTarget } from "./reconcile.ts";
import type { DesiredEndpoint, PmEndpoint, PmMemory, PmState } from "./types.ts";

const state = (endpoints: PmEndpoint[], over: Partial<PmState> = {}): PmState => ({
  netns: "/run/netns/n",
  netnsIno: 1,
  endpoints,
  limits: { subflows: 2, addAddrAccepted: 0 },
  sysctls: { "net.mptcp.enabled": "1", "net.mptcp.add_addr_timeout": "120" },
  ...over,
});

const want = (endpoints: DesiredEndpoint[], over: Partial<PmTarget> = {}): PmTarget => ({
  endpoints,
  limits: {},
  sysctls: {},
  exclusive: true,
  ...over,
});

const d = (address: string, flags: string[], extra: Partial<DesiredEndpoint> = {}) => ({
  address,
  flags,
  path: `endpoints[${address}]`,
  ...extra,
});

Deno.test("reconcile() adds a missing endpoint, hitless", () => {
  const [a] = reconcile(state([]), want([d("10.0.0.1", ["subflow"])]), null);
  assert.equal(a.change.path, "endpoints[10.0.0.1]");
  assert.equal(a.change.before, undefined);
  assert.equal(a.change.hitless, true);
  assert.deepEqual(a.ops, [{ op: "add", endpoint: { address: "10.0.0.1", flags: ["subflow"] } }]);
});

Deno.test("reconcile() changes backup/fullmesh in place with SET_FLAGS", () => {
  const have = { id: 4, address: "10.0.0.1", flags: ["subflow"] };
  const [a] = reconcile(state([have]), want([d("10.0.0.1", ["subflow", "backup"])]), null);
  assert.equal(a.change.hitless, true);
  assert.match(a.change.reason, /SET_FLAGS/);
  assert.deepEqual(a.ops, [
    { op: "setFlags", id: 4, address: "10.0.0.1", from: ["subflow"], to: ["subflow", "backup"] },
  ]);
});

Deno.test("reconcile() deletes and re-adds for other flags, a new dev or a new id", async (t) => {
  const have = { id: 4, address: "10.0.0.1", flags: ["subflow"], ifindex: 2, dev: "eth0" };
  const cases: [string, DesiredEndpoint, RegExp][] = [
    ["signal instead of subflow", d("10.0.0.1", ["signal"], { ifindex: 2 }), /flags other than/],
    ["another dev", d("10.0.0.1", ["subflow"], { ifindex: 3, dev: "eth1" }), /dev eth0 → eth1/],
    ["no dev", d("10.0.0.1", ["subflow"]), /dev eth0 → \(none\)/],
    ["an explicit new id", d("10.0.0.1", ["subflow"], { ifindex: 2, id: 9 }), /id 4 → 9/],
  ];
  for (const [name, desired, reason] of cases) {
    await t.step(name, () => {
      const [a] = reconcile(state([have]), want([desired]), null);
      assert.equal(a.change.hitless, false);
      assert.match(a.change.reason, reason);
      assert.deepEqual(a.ops.map((o) => o.op), ["delete", "add"]);
    });
  }
  await t.step("the same id declared explicitly is no change", () => {
    assert.deepEqual(reconcile(state([have]), want([{ ...have, path: "p" }]), null), []);
  });
});

Deno.test("reconcile() removes foreign endpoints only when exclusive", () => {
  const foreign = { id: 7, address: "10.0.0.9", flags: ["signal"] };
  const removed = reconcile(state([foreign]), want([]), null);
  assert.equal(removed.length, 1);
  assert.equal(removed[0].change.path, "endpoints[id 7]");
  assert.match(removed[0].change.reason, /exclusive: true removes it/);
  assert.deepEqual(removed[0].ops, [{ op: "delete", endpoint: foreign }]);
  assert.deepEqual(reconcile(state([foreign]), want([], { exclusive: false }), null), []);
});

Deno.test("reconcile() with exclusive: false still removes what the stack no longer declares", () => {
  const ours = { id: 1, address: "10.0.0.1", flags: ["subflow"] };
  const theirs = { id: 2, address: "10.0.0.2", flags: ["subflow"] };
  const memory = {
    owned: ["10.0.0.1|0"],
    managed: { limits: [], sysctls: [] },
  } as unknown as PmMemory;
  const actions = reconcile(state([ours, theirs]), want([], { exclusive: false }), memory);
  assert.deepEqual(actions.map((a) => a.change.reason), ["endpoint no longer declared"]);
});

Deno.test("reconcile() frees an id a kept foreign endpoint holds", () => {
  const theirs = { id: 5, address: "10.0.0.2", flags: ["subflow"] };
  const actions = reconcile(
    state([theirs]),
    want([d("10.0.0.1", ["subflow"], { id: 5 })], { exclusive: false }),
    null,
  );
  assert.deepEqual(orderedOps(actions).map((o) => o.op), ["delete", "add"]);
  assert.match(actions[1].change.reason, /holds id 5/);
});

Deno.test("reconcile() leaves implicit endpoints alone unless one is declared", () => {
  const implicit = { id: 3, address: "10.0.0.5", flags: ["implicit"] };
  assert.deepEqual(reconcile(state([implicit]), want([]), null), []);
  const [taken] = reconcile(state([implicit]), want([d("10.0.0.5", ["subflow"])]), null);
  assert.deepEqual(taken.ops.map((o) => o.op), ["add"]);
  assert.equal(taken.change.hitless, true);
  const [withId] = reconcile(
    state([implicit]),
    want([d("10.0.0.5", ["subflow"], { id: 9 })]),
    null,
  );
  assert.deepEqual(withId.ops.map((o) => o.op), ["delete", "add"]);
});

Deno.test("reconcile() sets declared limits and sysctls and gives back dropped ones", () => {
  const memory: PmMemory = {
    netns: null,
    netnsIno: 1,
    original: {
      endpoints: [],
      limits: { subflows: 0, addAddrAccepted: 0 },
      sysctls: { "net.mptcp.add_addr_timeout": "120", "net.mptcp.stale_loss_cnt": "4" },
    },
    owned: [],
    managed: { limits: ["subflows"], sysctls: ["net.mptcp.stale_loss_cnt"] },
    exclusive: true,
  };
  const now = state([], {
    limits: { subflows: 4, addAddrAccepted: 0 },
    sysctls: { "net.mptcp.add_addr_timeout": "120", "net.mptcp.stale_loss_cnt": "9" },
  });
  const target = want([], {
    limits: { addAddrAccepted: 3 },
    sysctls: { "net.mptcp.add_addr_timeout": "30" },
  });
  const changes = reconcile(now, target, memory).map((a) => a.change);
  assert.deepEqual(changes.map((c) => [c.path, c.before, c.after]), [
    ["sysctls.addAddrTimeout", "120", "30"],
    ["sysctls.staleLossCnt", "9", "4"],
    ["limits.subflows", 4, 0],
    ["limits.addAddrAccepted", 0, 3],
  ]);
  assert.match(changes[1].reason, /no longer declared/);
});

Deno.test("orderedOps() runs sysctls, limits, deletes, adds, then flag changes", () => {
  const have = [
    { id: 1, address: "10.0.0.1", flags: ["subflow"] },
    { id: 2, address: "10.0.0.2", flags: ["subflow"] },
    { id: 3, address: "10.0.0.3", flags: ["signal"] },
  ];
  const target = want([
    d("10.0.0.4", ["subflow"]),
    d("10.0.0.1", ["subflow", "backup"]),
    d("10.0.0.2", ["signal"]),
  ], { limits: { subflows: 3 }, sysctls: { "net.mptcp.enabled": "0" } });
  const ops = orderedOps(reconcile(state(have), target, null)).map((o) => o.op);
  assert.deepEqual(ops, ["sysctl", "limit", "delete", "delete", "add", "add", "setFlags"]);
});

Deno.test("restoreTarget() plus reconcile() give the netns back as it was", () => {
  const original = { id: 1, address: "10.0.0.9", flags: ["signal"] };
  const memory: PmMemory = {
    netns: "/run/netns/n",
    netnsIno: 1,
    original: {
      endpoints: [original],
      limits: { subflows: 2, addAddrAccepted: 0 },
      sysctls: { "net.mptcp.add_addr_timeout": "120", "net.mptcp.enabled": "1" },
    },
    owned: ["10.0.0.1|0"],
    managed: { limits: ["subflows"], sysctls: ["net.mptcp.add_addr_timeout"] },
    exclusive: false,
  };
  const now = state(
    [
      { id: 1, address: "10.0.0.1", flags: ["subflow"] },
      { id: 2, address: "10.0.0.7", flags: ["subflow"] }, // someone else's, added later
    ],
    {
      limits: { subflows: 4, addAddrAccepted: 1 },
      sysctls: { "net.mptcp.add_addr_timeout": "60" },
    },
  );
  const ops = orderedOps(reconcile(now, restoreTarget(memory), memory));
  assert.deepEqual(ops, [
    { op: "sysctl", name: "net.mptcp.add_addr_timeout", from: "60", to: "120" },
    { op: "limit", key: "subflows", from: 4, to: 2 },
    { op: "delete", endpoint: { id: 1, address: "10.0.0.1", flags: ["subflow"] } },
    { op: "add", endpoint: { id: 1, address: "10.0.0.9", flags: ["signal"] } },
  ]);
});

Deno.test("reconcile() frees an id the kernel gave one of ours when another declares it", () => {
  const ours = { id: 1, address: "10.0.0.1", flags: ["subflow"] };
  const target = want([d("10.0.0.1", ["subflow"]), d("10.0.0.2", ["subflow"], { id: 1 })]);
  const actions = reconcile(state([ours]), target, null);
  assert.match(actions[0].change.reason, /id 1 \(wanted by endpoints\[10\.0\.0\.2\]\)/);
  const ops = orderedOps(actions);
  assert.deepEqual(ops.map((o) => [o.op, "endpoint" in o ? o.endpoint.address : ""]), [
    ["delete", "10.0.0.1"],
    ["add", "10.0.0.2"],
    ["add", "10.0.0.1"],
  ]);
});
