// The shared MPTCP agent core against the real kernel: a userspace-PM netns
// pair carries real MPTCP connections from python3; the core's decoded events
// must agree with what the kernel's diag (`ss -M`, `ss -ti`) says; a subflow
// created with SUBFLOW_CREATE shows up as SUB_ESTABLISHED with the ids the
// diag reports. Then 1,000-connection bursts: with a 4 KB receive buffer the
// core reports the overflow and its resync snapshot equals the kernel's dump;
// with the default 8 MB buffer nothing is lost. The agent process's
// synchronous wait (nextBlocking) hands the same events.
import assert from "node:assert/strict";
import { type AgentSignal, MptcpAgentCore } from "../../providers/mptcp_agent/core.ts";
import type { MptcpEvent, MptcpEventType } from "../../providers/mptcp_agent/events.ts";
import { tokenHex } from "../../providers/mptcp_agent/events.ts";
import { takeSnapshot } from "../../providers/mptcp_agent/snapshot.ts";
import { parseSsSubflows } from "../../lab/subflows.ts";
import { inNetnsArgv, run } from "../../lab/command.ts";
import { attr, attrNested, attrU16, attrU32, attrU8 } from "../../providers/netlink/codec.ts";
import { withGenlSocket } from "../../providers/netlink/genl.ts";
import { type ScratchNetns, TestResources } from "../helpers/netns.ts";
import {
  runBurst,
  setUserspacePm,
  ssMptcpTokens,
  startHoldingServer,
} from "../../lab/mptcp_burst.ts";

const PORT = 7100;
const SERVER = "10.9.0.2";

interface Pair {
  client: ScratchNetns;
  server: ScratchNetns;
}

async function userspacePair(res: TestResources): Promise<Pair> {
  const client = await res.netns("sf-agc");
  const server = await res.netns("sf-ags");
  await res.veth(
    { netns: client, name: "veth0", addresses: ["10.9.0.1/24", "fd00:9::1/64"] },
    { netns: server, name: "veth0", addresses: ["10.9.0.2/24", "fd00:9::2/64"] },
  );
  await res.veth(
    { netns: client, name: "veth1", addresses: ["10.9.1.1/24"] },
    { netns: server, name: "veth1", addresses: ["10.9.1.2/24"] },
  );
  setUserspacePm(client.path);
  setUserspacePm(server.path);
  const holding = await startHoldingServer(server, "::", PORT, 60);
  res.defer("stop holding server", () => holding.stop());
  return { client, server };
}

function openCore(res: TestResources, netns: string, bytes?: number): MptcpAgentCore {
  const core = MptcpAgentCore.open({ netns, receiveBufferBytes: bytes, initialResync: false });
  res.defer("close agent core", () => core.close());
  return core;
}

/** Reads signals until `done` says so or `ms` pass without one; returns them all. */
async function collect(
  core: MptcpAgentCore,
  done: (got: AgentSignal[]) => boolean,
  ms = 10_000,
): Promise<AgentSignal[]> {
  const got: AgentSignal[] = [];
  while (!done(got)) {
    const s = await core.next(ms);
    if (!s) break;
    got.push(s);
  }
  return got;
}

const eventsOf = (got: AgentSignal[], type: MptcpEventType): MptcpEvent[] =>
  got.flatMap((s) => s.kind === "event" && s.event.type === type ? [s.event] : []);

function subflowCreate(netns: string, token: number, remotePort: number): void {
  withGenlSocket(netns, (sock) => {
    const family = sock.family("mptcp_pm");
    const local = attrNested(1, [
      attrU16(1, 2),
      attrU8(2, 5),
      attr(3, new Uint8Array([10, 9, 1, 1])),
    ]);
    const remote = attrNested(6, [
      attrU16(1, 2),
      attr(3, new Uint8Array([10, 9, 1, 2])),
      attrU16(5, remotePort),
    ]);
    const attrs = new Uint8Array([...attrU32(4, token), ...local, ...remote]);
    sock.request(family.id, 10, attrs, { call: "mptcp_pm SUBFLOW_CREATE" });
  });
}

/** CREATED / ESTABLISHED of `n` connections agree with diag and `ss -M`; returns the tokens. */
async function checkConnections(core: MptcpAgentCore, client: ScratchNetns, n: number) {
  const got = await collect(core, (g) => eventsOf(g, "ESTABLISHED").length >= n);
  const created = eventsOf(got, "CREATED").map((e) => e.token!);
  const established = eventsOf(got, "ESTABLISHED");
  assert.equal(created.length, n);
  assert.equal(established.length, n);
  assert.equal(core.counters.events.CREATED, n);
  assert.equal(core.counters.overflows, 0);
  const snap = takeSnapshot(client.path);
  const diagTokens = [...snap.connections.keys()].map(tokenHex).sort();
  assert.deepEqual(created.map(tokenHex).sort(), diagTokens, "CREATED tokens = diag tokens");
  assert.deepEqual((await ssMptcpTokens(client.name)).sort(), diagTokens, "ss -M tokens = diag");
  for (const e of established) {
    const conn = snap.connections.get(e.token!);
    assert.ok(conn, `ESTABLISHED token ${tokenHex(e.token!)} is live`);
    const ends = [conn.local, conn.localPort, conn.remote, conn.remotePort];
    assert.deepEqual([e.saddr, e.sport, e.daddr, e.dport], ends);
    assert.equal(conn.subflows.length, 1, "one initial subflow per connection in diag");
  }
  return created;
}

/** A second subflow by SUBFLOW_CREATE: its SUB_ESTABLISHED carries what diag and `ss -ti` say. */
async function checkJoin(core: MptcpAgentCore, client: ScratchNetns, token: number) {
  subflowCreate(client.path, token, PORT);
  const got = await collect(core, (g) => eventsOf(g, "SUB_ESTABLISHED").length > 0);
  const [sub, ...more] = eventsOf(got, "SUB_ESTABLISHED");
  assert.equal(more.length, 0);
  assert.equal(sub.token, token);
  assert.equal(sub.locId, 5);
  const after = takeSnapshot(client.path).connections.get(token)!;
  const joined = after.subflows.find((s) => s.localPort === sub.sport);
  assert.ok(joined, "the SUB_ESTABLISHED subflow is in diag");
  assert.deepEqual(
    [sub.saddr, sub.daddr, sub.dport, sub.locId, sub.remId, sub.backup],
    [
      joined.local,
      joined.remote,
      joined.remotePort,
      joined.localId,
      joined.remoteId,
      joined.backupRemote,
    ],
  );
  const ssSubflows = parseSsSubflows(await run(inNetnsArgv(client.name, ["ss", "-tinH"])));
  assert.equal(ssSubflows.filter((s) => parseInt(s.token, 16) === token).length, 2);
}

Deno.test("agent core: decoded events agree with the kernel's MPTCP diag on a userspace-PM pair", async () => {
  await using res = new TestResources();
  const { client } = await userspacePair(res);
  const core = openCore(res, client.path);
  const burst = await runBurst(client, SERVER, PORT, { count: 20, keepEvery: 1, seconds: 10 });
  res.defer("stop burst client", () => burst.stop());
  assert.equal(burst.made, 20, "all 20 connections were made");
  const created = await checkConnections(core, client, 20);
  await checkJoin(core, client, created[0]);
  await burst.stop();
  const closed = eventsOf(await collect(core, (g) => eventsOf(g, "CLOSED").length >= 20), "CLOSED");
  const closedTokens = closed.map((e) => e.token!).sort();
  assert.deepEqual(closedTokens, [...created].sort(), "every connection's CLOSED");
});

/** Live tokens as a consumer keeps them: a resync replaces the set, CREATED adds, CLOSED removes. */
function liveView(signals: AgentSignal[]): Set<number> {
  let live = new Set<number>();
  for (const s of signals) {
    if (s.kind === "resync") live = new Set(s.snapshot.connections.keys());
    else if (s.event.type === "CREATED") live.add(s.event.token!);
    else if (s.event.type === "CLOSED") live.delete(s.event.token!);
  }
  return live;
}

Deno.test("agent core: IPv6 connections decode with IPv6 addresses that match diag", async () => {
  await using res = new TestResources();
  const { client } = await userspacePair(res);
  const core = openCore(res, client.path);
  const burst = await runBurst(client, "fd00:9::2", PORT, { count: 5, keepEvery: 1, seconds: 10 });
  res.defer("stop burst client", () => burst.stop());
  assert.equal(burst.made, 5);
  await checkConnections(core, client, 5);
  const conns = [...takeSnapshot(client.path).connections.values()];
  assert.deepEqual(
    conns.map((c) => [c.family, c.local, c.remote]),
    Array(5).fill([10, "fd00:9::1", "fd00:9::2"]),
  );
});

const BURST = { count: 1000, keepEvery: 10, seconds: 20 };

/** Waits (bounded) until `ss -M` lists exactly `n` connections: the short ones are gone. */
async function settle(ns: ScratchNetns, n: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  while ((await ssMptcpTokens(ns.name)).length !== n && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
}

Deno.test("agent core: a 4 KB buffer overflows in a 1,000-connection burst, and the resync snapshot equals the kernel's dump", async () => {
  await using res = new TestResources();
  const { client } = await userspacePair(res);
  const core = openCore(res, client.path, 4096);
  // Nothing reads during the burst (a busy policy): the kernel must drop events.
  const burst = await runBurst(client, SERVER, PORT, BURST);
  res.defer("stop burst client", () => burst.stop());
  assert.equal(burst.made, BURST.count);
  await settle(client, burst.keptPorts.length);

  const got = await collect(core, (g) => g.some((s) => s.kind === "resync"));
  const resync = got.find((s) => s.kind === "resync");
  assert.ok(resync?.kind === "resync" && resync.reason === "overflow", "an overflow resync");
  const ssTokens = (await ssMptcpTokens(client.name)).sort();
  const snapTokens = [...resync.snapshot.connections.keys()].map(tokenHex).sort();
  assert.deepEqual(snapTokens, ssTokens, "resync snapshot = ss -M at that moment");
  const snapPorts = [...resync.snapshot.connections.values()].map((c) => c.localPort).sort();
  assert.deepEqual(
    snapPorts,
    [...burst.keptPorts].sort(),
    "the snapshot holds the kept connections",
  );
  for (const c of resync.snapshot.connections.values()) assert.equal(c.subflows.length, 1);
  assert.ok(core.counters.overflows >= 1);
  assert.equal(core.counters.resyncs, 1);

  // A consumer's view (the snapshot, then the events after it) ends equal to the kernel's.
  const view = liveView([...got, ...await collect(core, () => false, 500)]);
  assert.deepEqual([...view].map(tokenHex).sort(), ssTokens, "view after resync = ss -M");
  assert.ok(core.counters.events.CREATED < BURST.count, "events really were lost");
});

Deno.test("agent core: with the default 8 MB buffer a 1,000-connection burst loses nothing", async () => {
  await using res = new TestResources();
  const { client } = await userspacePair(res);
  const core = openCore(res, client.path);
  assert.ok(core.counters.receiveBufferBytes >= 8 * 1024 * 1024);
  // Read while the burst runs, as the agent does.
  const reading = collect(core, (g) => eventsOf(g, "CREATED").length >= BURST.count);
  const burst = await runBurst(client, SERVER, PORT, BURST);
  res.defer("stop burst client", () => burst.stop());
  const got = await reading;
  assert.equal(burst.made, BURST.count);
  assert.equal(eventsOf(got, "CREATED").length, burst.made, "a CREATED per connection");
  assert.equal(new Set(eventsOf(got, "CREATED").map((e) => e.token)).size, burst.made);
  assert.equal(core.counters.overflows, 0);
  assert.equal(core.counters.resyncs, 0);
});

Deno.test("agent core: waiting for events does not block the event loop, and close ends a pending wait", async () => {
  await using res = new TestResources();
  const ns = await res.netns("sf-agw");
  const core = MptcpAgentCore.open({ netns: ns.path });
  res.defer("close agent core", () => core.close());
  assert.equal((await core.next(5000))?.kind, "resync", "the start snapshot comes first");
  // A blocking receive would hold the JS thread for the whole wait: 50 timer
  // turns could not run before the 3 s wait ends.
  let wait: AgentSignal | undefined | "pending" = "pending";
  const waiting = core.next(3000).then((s) => wait = s);
  for (let i = 0; i < 50; i++) await new Promise((r) => setTimeout(r, 0));
  assert.equal(wait, "pending", "50 timer turns ran while the core waited");
  await waiting;
  const pending = core.next();
  await core.close();
  const late = new Promise((r) => setTimeout(r, 5000, "still waiting"));
  assert.equal(await Promise.race([pending, late]), undefined, "close ends a pending next()");
  assert.equal(core.closed, true);
});

Deno.test("agent core: nextBlocking (the agent process's wait) times out when idle, then hands a CREATED per connection, as ss -M lists them", async () => {
  await using res = new TestResources();
  const { client } = await userspacePair(res);
  const core = openCore(res, client.path);
  assert.equal(core.nextBlocking(200), undefined, "nothing queued: the wait times out");
  const burst = await runBurst(client, SERVER, PORT, { count: 5, keepEvery: 1, seconds: 20 });
  res.defer("stop burst client", () => burst.stop());
  const created = new Set<number>();
  const deadline = Date.now() + 10_000;
  while (created.size < burst.made && Date.now() < deadline) {
    const s = core.nextBlocking(200);
    if (s?.kind === "event" && s.event.type === "CREATED") created.add(s.event.token!);
  }
  assert.deepEqual([...created].map(tokenHex).sort(), (await ssMptcpTokens(client.name)).sort());
});
