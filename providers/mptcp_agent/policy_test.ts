// Pure tests of the policy bookkeeping: connection views folded from
// decoded events and rebuilt from a snapshot, what the builtins ask for on
// those views (pending creates count, so a repeated event asks for nothing
// more), and the userspace-PM address encoding.
import assert from "node:assert/strict";
import { ConnectionViews, diagServerSide, PENDING_CREATE_MS } from "./connection_views.ts";
import { fullmesh, ndiffports, NDIFFPORTS_LOCAL_ID } from "./builtins.ts";
import type { MptcpEvent } from "./events.ts";
import type { MptcpSnapshot } from "./snapshot.ts";
import type { PolicyAction } from "./policy.ts";
import { encodePmAddress } from "./pm_commands.ts";
import { loadPolicy, PolicyLoadError } from "./load_policy.ts";

const T = 0xabc;
const ends = { saddr: "10.1.2.1", sport: 40000, daddr: "10.1.2.2", dport: 80 };
const established: MptcpEvent = { type: "ESTABLISHED", token: T, ...ends };
const init = { locals: [], params: {}, log: () => {} };

function createAll(views: ConnectionViews, actions: PolicyAction[] | void, now = 0) {
  for (const a of actions ?? []) views.record(T, a, now);
}

Deno.test("ndiffports: asks for the missing subflows once; pending creates and joins count", () => {
  const views = new ConnectionViews();
  const policy = ndiffports({ ...init, params: { subflows: 3 } });
  const hit = views.apply(established)!;
  assert.equal(hit.event.type, "established");
  const first = policy.onEvent(hit.event, hit.view) as PolicyAction[];
  assert.equal(first.length, 2);
  assert.deepEqual(first[0], {
    kind: "create_subflow",
    local: { address: "10.1.2.1", id: NDIFFPORTS_LOCAL_ID },
    remote: { address: "10.1.2.2", port: 80 },
  });
  createAll(views, first);
  assert.deepEqual(policy.onEvent(hit.event, views.views.get(T)!), [], "idempotent");
  const joined = views.apply({ type: "SUB_ESTABLISHED", token: T, ...ends, sport: 40001 })!;
  assert.deepEqual(joined.view.subflows.map((s) => s.state), [
    "established",
    "pending",
    "established",
  ]);
  views.apply({ type: "SUB_CLOSED", token: T, ...ends, sport: 40001, error: 111 });
  const again = views.views.get(T)!;
  assert.equal(again.subflows.length, 2);
  assert.equal(
    (policy.onEvent({ type: "subflow_closed", subflow: again.subflows[0] }, again) as []).length,
    1,
  );
  views.expirePending(PENDING_CREATE_MS);
  assert.equal(views.views.get(T)!.subflows.length, 1, "a lost answer expires");
  assert.equal(views.apply({ type: "CLOSED", token: T })?.event.type, "closed");
  assert.equal(views.views.size, 0);
  assert.equal(views.apply({ type: "CLOSED", token: T }), undefined, "unknown token: no-op");
});

Deno.test("fullmesh: every local × remote, remotes from announcements; server side announces signal locals", () => {
  const views = new ConnectionViews();
  const locals = [{ address: "10.1.3.1", id: 2 }];
  const policy = fullmesh({ ...init, locals });
  views.apply(established);
  const hit = views.apply({ type: "ANNOUNCED", token: T, daddr: "10.1.3.2", remId: 2 })!;
  const pairs = (policy.onEvent(hit.event, hit.view) as PolicyAction[]).map((a) =>
    a.kind === "create_subflow" ? `${a.local.address}>${a.remote.address}:${a.remote.port}` : a.kind
  );
  assert.deepEqual(pairs.sort(), [
    "10.1.2.1>10.1.3.2:80",
    "10.1.3.1>10.1.2.2:80",
    "10.1.3.1>10.1.3.2:80",
  ]);
  const server = fullmesh({ ...init, locals: [{ address: "10.1.3.2", id: 2, signal: true }] });
  const srv = new ConnectionViews();
  const s = srv.apply({ ...established, token: 7, flags: 1 })!;
  assert.ok(s.view.serverSide);
  const ann = server.onEvent(s.event, s.view) as PolicyAction[];
  assert.deepEqual(ann, [{ kind: "announce", local: { address: "10.1.3.2", id: 2 } }]);
  for (const a of ann) srv.record(7, a);
  assert.deepEqual(server.onEvent(s.event, srv.views.get(7)!), [], "announced once");
});

Deno.test("resync: views follow the snapshot; gone connections drop, policy state and fresh pending stay", () => {
  const views = new ConnectionViews();
  views.apply(established);
  views.apply({ ...established, token: 99 });
  views.views.get(T)!.state.seen = true;
  views.record(T, {
    kind: "create_subflow",
    local: { address: "10.1.3.1", id: 2 },
    remote: { address: "10.1.2.2", port: 80 },
  }, 1000);
  const sub = {
    family: 2,
    state: 1,
    ifIndex: 0,
    token: T,
    remoteToken: 1,
    localId: 0,
    remoteId: 0,
    backupLocal: false,
    backupRemote: false,
    flags: 0,
  };
  const snapshot: MptcpSnapshot = {
    takenAt: 0,
    orphanSubflows: [],
    connections: new Map([[T, {
      family: 2,
      state: 1,
      ifIndex: 0,
      token: T,
      local: "10.1.2.1",
      localPort: 40000,
      remote: "10.1.2.2",
      remotePort: 80,
      subflows: [{
        ...sub,
        local: "10.1.2.1",
        localPort: 40000,
        remote: "10.1.2.2",
        remotePort: 80,
      }],
    }]]),
  };
  const live = views.resync(snapshot, 2000);
  assert.deepEqual(live.map((v) => v.token), [T]);
  assert.deepEqual([...views.views.keys()], [T]);
  const v = views.views.get(T)!;
  assert.equal(v.state.seen, true);
  assert.deepEqual(v.subflows.map((s) => `${s.local}:${s.state}`), [
    "10.1.2.1:established",
    "10.1.3.1:pending",
  ]);
});

Deno.test("encodePmAddress: family, address, id, host-order port, flags", () => {
  const bytes = encodePmAddress(6, { address: "10.1.2.2", id: 3, port: 0x1234, flags: 1 });
  assert.deepEqual([...bytes.slice(0, 4)], [bytes.length, 0, 6, 0x80], "nested type 6");
  assert.deepEqual([...bytes.slice(4, 12)], [6, 0, 1, 0, 2, 0, 0, 0], "family AF_INET");
  assert.deepEqual([...bytes.slice(12, 20)], [8, 0, 3, 0, 10, 1, 2, 2], "ADDR4 network order");
  assert.throws(() => encodePmAddress(1, { address: "nope" }), /not an IP address/);
});

Deno.test("loadPolicy: builtins by name, bad specs name their field", async () => {
  const log = () => {};
  const p = await loadPolicy(
    { policy: { builtin: "ndiffports", subflows: 2 }, locals: [] },
    undefined,
    log,
  );
  assert.equal(p.name, "ndiffports(2)");
  await assert.rejects(
    loadPolicy({ policy: { module: "relative.ts" }, locals: [] }, undefined, log),
    (e: Error) =>
      e instanceof PolicyLoadError &&
      /policy\.module: relative\.ts is not an absolute path/.test(e.message),
  );
  await assert.rejects(
    loadPolicy({ policy: { builtin: "ndiffports", subflows: 0 }, locals: [] }, undefined, log),
    /subflows must be a positive integer/,
  );
});

Deno.test("resync: a pending create is answered only by a subflow the view did not know; owner-closed msks drop", () => {
  const sub = {
    family: 2,
    state: 1,
    ifIndex: 0,
    token: T,
    remoteToken: 1,
    localId: 0,
    remoteId: 0,
    backupLocal: false,
    backupRemote: false,
    flags: 0,
    local: "10.1.2.1",
    remote: "10.1.2.2",
    remotePort: 80,
  };
  const conn = (ports: number[], state = 1) => ({
    family: 2,
    state,
    ifIndex: 0,
    token: T,
    local: "10.1.2.1",
    localPort: 40000,
    remote: "10.1.2.2",
    remotePort: 80,
    subflows: ports.map((localPort) => ({ ...sub, localPort })),
  });
  const snap = (c: ReturnType<typeof conn>): MptcpSnapshot => ({
    takenAt: 0,
    orphanSubflows: [],
    connections: new Map([[T, c]]),
  });
  const pendingSame: PolicyAction = {
    kind: "create_subflow",
    local: { address: "10.1.2.1", id: 100 },
    remote: { address: "10.1.2.2", port: 80 },
  };
  const states = (v: ConnectionViews) => v.views.get(T)!.subflows.map((s) => s.state);
  const views = new ConnectionViews();
  views.apply(established);
  views.record(T, pendingSame, 1000);
  views.resync(snap(conn([40000])), 2000);
  assert.deepEqual(states(views), ["established", "pending"], "still in flight");
  views.resync(snap(conn([40000, 40001])), 2000);
  assert.deepEqual(states(views), ["established", "established"], "answered by the new join");
  assert.deepEqual(views.resync(snap(conn([40000], 4)), 2000), [], "FIN_WAIT1: closed by owner");
  assert.equal(views.views.size, 0);
});

Deno.test("resync: a connection first met in a snapshot is server side when its initial subflow was accepted", () => {
  // ss -ti: the connecting side's initial subflow has flags Mmec (0xc3), the accepting side's Mec (0xc1).
  assert.equal(diagServerSide({ subflows: [{ flags: 0xc1 }] }), true);
  assert.equal(diagServerSide({ subflows: [{ flags: 0xc3 }] }), false);
  assert.equal(diagServerSide({ subflows: [{ flags: 0xc1 }, { flags: 0xc8 }] }), true);
  assert.equal(diagServerSide({ subflows: [{ flags: 0xcc }] }), undefined, "only a join left");
  const views = new ConnectionViews();
  const conn = (token: number, flags: number) => ({
    family: 2,
    state: 1,
    ifIndex: 0,
    token,
    local: "10.1.2.2",
    localPort: 80,
    remote: "10.1.2.1",
    remotePort: 40000,
    subflows: [{
      family: 2,
      state: 1,
      ifIndex: 0,
      token,
      remoteToken: 1,
      localId: 0,
      remoteId: 0,
      backupLocal: false,
      backupRemote: false,
      flags,
      local: "10.1.2.2",
      localPort: 80,
      remote: "10.1.2.1",
      remotePort: 40000,
    }],
  });
  const live = views.resync({
    takenAt: 0,
    orphanSubflows: [],
    connections: new Map([[1, conn(1, 0xc1)], [2, conn(2, 0xc3)]]),
  });
  assert.deepEqual(live.map((v) => [v.token, v.serverSide]), [[1, true], [2, false]]);
});

Deno.test("views: an ESTABLISHED after its connection's CLOSED does not revive it; a reused token does", () => {
  // Seen in a 3,000-connection burst: the kernel queues ESTABLISHED from its PM worker, and a
  // connection closed at once can emit CLOSED first (6 of 3,000 on the host).
  const views = new ConnectionViews();
  views.apply({ type: "CREATED", token: T, ...ends });
  assert.equal(views.apply({ type: "CLOSED", token: T })?.event.type, "closed");
  assert.equal(views.apply(established), undefined, "a late ESTABLISHED is dropped");
  assert.equal(views.views.size, 0);
  assert.equal(views.apply({ type: "CREATED", token: T, ...ends })?.event.type, "created");
  assert.equal(views.apply(established)?.event.type, "established", "a new CREATED revives it");
  assert.equal(views.views.size, 1);
});
