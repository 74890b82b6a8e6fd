// PolicyChain on real MPTCP traffic in the two-path lab (in-kernel PMs):
// dropping ADD_ADDR keeps connections on MPTCP with one subflow, dropping
// MP_JOIN on one device keeps connections off that path, and rules edited
// during a transfer take effect at once with no reset and no reload. Each
// test first shows the lab without the chain does what the rule prevents.
import assert from "node:assert/strict";
import { applyStack } from "../../mod.ts";
import { LAB_PATHS } from "../../lab/two_path_lab.ts";
import { runBurst } from "../../lab/mptcp_burst.ts";
import { runTransfer } from "../../lab/mptcp_transfer.ts";
import { groupByConnection, listSubflows } from "../../lab/subflows.ts";
import { addEndpoint, setLimits } from "../../providers/netlink/mptcp_pm.ts";
import { writeSysctl } from "../../providers/system/sysctl.ts";
import { readCounters, readState } from "../../providers/policy_chain/kernel.ts";
import {
  chainDir,
  chainStack,
  clientConnections,
  fallbacks,
  keptConnections,
  mptcpCounters,
  settled,
  sleep,
  withChainLab,
} from "../helpers/policy_chain_lab.ts";

const [PATH_A, PATH_B] = LAB_PATHS;

Deno.test("dropping ADD_ADDR from a server with a signal endpoint: one subflow, MPTCP kept, every ADD_ADDR counted", async () => {
  await withChainLab("sf-pc-aa", async (c) => {
    const { client, server } = c.lab;
    setLimits({ subflows: 2, addAddrAccepted: 2 }, client.path);
    setLimits({ subflows: 2, addAddrAccepted: 0 }, server.path);
    addEndpoint({ address: PATH_B.serverAddress, flags: ["signal"] }, server.path);
    writeSysctl("net.mptcp.add_addr_timeout", 1, server.path); // retries within seconds
    assert.deepEqual(await keptConnections(c, 1, 1500), [2], "without the chain: 2 subflows");
    const rules = [{
      select: { mptcp: "addAddr" as const },
      act: [{ drop: true as const }, { record: true as const }],
    }];
    await applyStack(
      chainStack(c, { attach: [{ dev: PATH_A.dev, hooks: ["ingress"] }], rules }),
      c.store,
    );
    const before = { client: mptcpCounters(client.path), server: mptcpCounters(server.path) };
    const burst = await runBurst(client, PATH_A.serverAddress, c.port, {
      count: 1,
      keepEvery: 1,
      seconds: 30,
    });
    try {
      // 6.1 has no AddAddrTx counter: there the rule's own count stands in for what was sent.
      const hasTx = "AddAddrTx" in before.server;
      const counted = () => readCounters(chainDir(c), 1)[0].packets;
      const sent = await settled(
        () => hasTx ? mptcpCounters(server.path).AddAddrTx : counted(),
        3000,
        20_000,
      );
      const after = { client: mptcpCounters(client.path), server: mptcpCounters(server.path) };
      const adds = hasTx ? sent - before.server.AddAddrTx : sent;
      assert.ok(adds >= 2, `the server sent ADD_ADDR and retried: ${adds}`);
      assert.equal(
        after.client.AddAddr - before.client.AddAddr,
        0,
        "the client received no ADD_ADDR",
      );
      const mine = (await clientConnections(c)).filter((conn) =>
        conn.subflows.some((s) => burst.keptPorts.includes(s.localPort))
      );
      assert.deepEqual(mine.map((conn) => conn.subflows.length), [1], "exactly 1 subflow");
      assert.deepEqual(fallbacks(before.client, after.client), [], "no fallback on the client");
      assert.deepEqual(fallbacks(before.server, after.server), [], "no fallback on the server");
      assert.equal(
        readCounters(chainDir(c), 1)[0].packets,
        adds,
        "the rule counted every ADD_ADDR",
      );
    } finally {
      await burst.stop();
    }
  });
});

Deno.test("dropping MP_JOIN on one device: connections keep 1 subflow, the rule counts the refused joins", async () => {
  await withChainLab("sf-pc-join", async (c) => {
    const { client, server } = c.lab;
    setLimits({ subflows: 2, addAddrAccepted: 0 }, client.path);
    setLimits({ subflows: 2, addAddrAccepted: 0 }, server.path);
    addEndpoint(
      { address: PATH_B.clientAddress, flags: ["subflow"] },
      client.path,
    );
    assert.deepEqual(
      await keptConnections(c, 2, 1000),
      [2, 2],
      "without the chain: 2 subflows each",
    );
    const rules = [
      {
        select: { dev: PATH_B.dev, mptcp: "join" as const },
        act: [{ drop: true as const }, { record: true as const }],
      },
    ];
    const attach = [{ dev: PATH_A.dev, hooks: ["egress" as const] }, {
      dev: PATH_B.dev,
      hooks: ["egress" as const],
    }];
    await applyStack(chainStack(c, { attach, rules }), c.store);
    const before = mptcpCounters(client.path);
    assert.deepEqual(
      await keptConnections(c, 3, 2500),
      [1, 1, 1],
      "with the chain: 1 subflow each",
    );
    // 6.1 has no MPJoinSynTx counter: there, at least one join per connection.
    const joins = "MPJoinSynTx" in before
      ? mptcpCounters(client.path).MPJoinSynTx - before.MPJoinSynTx
      : 3;
    const refused = readCounters(chainDir(c), 1)[0].packets;
    assert.ok(joins >= 3, `the client tried a join per connection: ${joins}`);
    assert.ok(
      refused >= joins,
      `every join SYN (and its retries) was dropped: ${refused} ≥ ${joins}`,
    );
    assert.deepEqual(fallbacks(before, mptcpCounters(client.path)), []);
  });
});

Deno.test("editing rules during a transfer: no reset, no reload, the new rule acts at once", async () => {
  await withChainLab("sf-pc-edit", async (c) => {
    const { client, server } = c.lab;
    setLimits({ subflows: 2, addAddrAccepted: 0 }, client.path);
    setLimits({ subflows: 2, addAddrAccepted: 0 }, server.path);
    addEndpoint(
      { address: PATH_B.clientAddress, flags: ["subflow"] },
      client.path,
    );
    const attach = [{ dev: PATH_A.dev, hooks: ["ingress" as const, "egress" as const] }, {
      dev: PATH_B.dev,
      hooks: ["egress" as const],
    }];
    const first = [{ select: { remotePort: 22 }, act: [{ drop: true as const }] }];
    await applyStack(chainStack(c, { attach, rules: first }), c.store);
    const programs = readState(chainDir(c)).programs;
    const before = { client: mptcpCounters(client.path), server: mptcpCounters(server.path) };
    const transfer = runTransfer({
      client,
      server,
      serverAddress: PATH_A.serverAddress,
      mptcp: true,
      seconds: 15, // long enough to outlast a slow apply in a loaded TCG guest
      sampleEveryMs: 0,
    });
    transfer.catch(() => {});
    await waitForSubflows(client.name, 2);
    const tokens = groupByConnection(await listSubflows(client.name)).map((x) => x.token).sort();
    const edited = [
      {
        select: { remotePort: 5201, direction: "egress" as const },
        act: [{ record: true as const }],
      },
      ...first,
    ];
    const outcome = await applyStack(chainStack(c, { attach, rules: edited }), c.store);
    const step = outcome.plan.steps.find((s) => s.action !== "no-op")!;
    assert.equal(step.action, "update");
    assert.ok(step.hitless, "the plan calls the edit hitless");
    assert.deepEqual(step.changes.map((x) => x.path), ["rules[0]", "rules[1]"]);
    const counted = readCounters(chainDir(c), 1)[0].packets;
    const counting = async () => {
      for (let i = 0; i < 30 && readCounters(chainDir(c), 1)[0].packets <= counted; i++) {
        await sleep(100); // bounded: 3 s; on the host the first poll already sees it
      }
      return readCounters(chainDir(c), 1)[0].packets;
    };
    assert.ok(await counting() > counted, "the new rule counts during the same transfer");
    assert.deepEqual(readState(chainDir(c)).programs, programs, "no program reload");
    const after = groupByConnection(await listSubflows(client.name)).map((x) => x.token).sort();
    assert.deepEqual(after, tokens, "the same connections before and after");
    // Read while the transfer still runs: 6.1 sends an MP_RST when the finished connection's
    // subflows close, which is teardown, not the edit.
    const resets = mptcpCounters(client.path).MPRstTx - before.client.MPRstTx;
    assert.equal(resets, 0, "no MPTCP reset sent around the edit");
    const result = await transfer;
    assert.ok(
      result.bytesReceived > 1_000_000,
      `the transfer finished: ${result.bytesReceived} bytes`,
    );
    assert.deepEqual(fallbacks(before.client, mptcpCounters(client.path)), []);
    assert.deepEqual(fallbacks(before.server, mptcpCounters(server.path)), []);
  });
});

async function waitForSubflows(ns: string, want: number) {
  for (let i = 0; i < 100; i++) {
    const conns = groupByConnection(await listSubflows(ns));
    if (conns.some((x) => x.subflows.length === want)) return;
    await sleep(100);
  }
  throw new Error(`no connection with ${want} subflows`);
}
