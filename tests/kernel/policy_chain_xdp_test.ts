// PolicyChain at XDP on real MPTCP traffic in the two-path lab (in-kernel
// PMs), the chain on the server side: MP_JOIN dropped by the XDP program on
// the server's path-B device keeps connections on 1 subflow, the server's
// kernel never sees the joins, and the rule counts each one; then the same
// chain with tcx links on path A as well, both hooks acting on one ruleset.
import assert from "node:assert/strict";
import { applyStack, PolicyChain, type PolicyChainSpecInput, Stack } from "../../mod.ts";
import { LAB_PATHS } from "../../lab/two_path_lab.ts";
import { addEndpoint, setLimits } from "../../providers/netlink/mptcp_pm.ts";
import { readCounters, readState } from "../../providers/policy_chain/kernel.ts";
import { xdpPrograms } from "../../providers/policy_chain/xdp.ts";
import { has } from "../../providers/system/features.ts";
import { TCX } from "../../providers/policy_chain/driver.ts";
import {
  chainDir,
  type ChainLab,
  fallbacks,
  keptConnections,
  mptcpCounters,
  STACK,
  withChainLab,
} from "../helpers/policy_chain_lab.ts";

const [PATH_A, PATH_B] = LAB_PATHS;

function serverChain(c: ChainLab, spec: Omit<PolicyChainSpecInput, "netns">): Stack {
  return new Stack(STACK, [new PolicyChain("chain", { netns: c.lab.server.path, ...spec })]);
}

const DROP_JOINS = {
  select: { dev: PATH_B.dev, mptcp: "join" as const },
  act: [{ drop: true as const }, { record: true as const }],
};

/** Joins the client sent and the server received since `before`, and what rule 0 counted. */
function joinCounts(
  c: ChainLab,
  before: { client: Record<string, number>; server: Record<string, number> },
) {
  const client = mptcpCounters(c.lab.client.path);
  const server = mptcpCounters(c.lab.server.path);
  // 6.1 has no MPJoinSynTx counter (newer kernels count join SYNs sent): then null.
  const sent = "MPJoinSynTx" in client ? client.MPJoinSynTx - before.client.MPJoinSynTx : null;
  return {
    sent,
    received: server.MPJoinSynRx - before.server.MPJoinSynRx,
    dropped: readCounters(chainDir(c), 1)[0].packets,
    fallbacks: [...fallbacks(before.client, client), ...fallbacks(before.server, server)],
  };
}

Deno.test("XDP on the server: MP_JOIN dropped on one device keeps 1 subflow and is counted; with tcx links beside it both hooks act", async () => {
  await withChainLab("sf-pc-xdp", async (c) => {
    const { client, server } = c.lab;
    setLimits({ subflows: 2, addAddrAccepted: 0 }, client.path);
    setLimits({ subflows: 2, addAddrAccepted: 0 }, server.path);
    addEndpoint({ address: PATH_B.clientAddress, flags: ["subflow"] }, client.path);
    assert.deepEqual(await keptConnections(c, 2, 1000), [2, 2], "without the chain: 2 subflows");

    const xdpOnly = serverChain(c, {
      attach: [{ dev: PATH_B.dev, hooks: ["xdp"] }],
      rules: [DROP_JOINS],
    });
    await applyStack(xdpOnly, c.store);
    const ours = readState(chainDir(c)).programs.xdp;
    assert.deepEqual(xdpPrograms(server.path, PATH_B.dev).map((p) => [p.id, p.mode]), [
      [ours, "native"],
    ], "our program runs in native mode on the server's veth");
    const before = { client: mptcpCounters(client.path), server: mptcpCounters(server.path) };
    assert.deepEqual(await keptConnections(c, 3, 2500), [1, 1, 1], "with XDP: 1 subflow each");
    const first = joinCounts(c, before);
    const tried = first.sent ?? 3; // without the counter: at least one join per connection
    assert.ok(tried >= 3, `the client tried a join per connection: ${first.sent}`);
    assert.equal(first.received, 0, "the server's TCP stack saw no MP_JOIN SYN");
    assert.ok(first.dropped >= tried, `XDP dropped every join SYN: ${JSON.stringify(first)}`);
    assert.deepEqual(first.fallbacks, []);

    const both = serverChain(c, {
      attach: [
        { dev: PATH_A.dev, hooks: ["ingress", "egress"] },
        { dev: PATH_B.dev, hooks: ["xdp"] },
      ],
      rules: [DROP_JOINS, {
        select: { dev: PATH_A.dev, localPort: c.port },
        act: [{ mark: 0x10 }, { record: true }],
      }],
    });
    const outcome = await applyStack(both, c.store);
    const step = outcome.plan.steps.find((s) => s.action !== "no-op")!;
    assert.equal(step.action, "update");
    const links = step.changes.filter((x) => x.path.startsWith("attach."));
    assert.deepEqual(links.map((x) => x.path).sort(), [
      "attach.veth-a.egress",
      "attach.veth-a.ingress",
    ]);
    const kind = has(TCX) ? "tcx link " : "tc filter "; // 6.1 has no tcx
    assert.ok(links.every((x) => String(x.after).startsWith(kind)), "the plan says which");
    assert.deepEqual(readState(chainDir(c)).programs.xdp, ours, "the XDP program was not reloaded");
    const again = { client: mptcpCounters(client.path), server: mptcpCounters(server.path) };
    const droppedBefore = readCounters(chainDir(c), 1)[0].packets;
    assert.deepEqual(await keptConnections(c, 2, 2500), [1, 1], "XDP still drops the joins");
    const second = joinCounts(c, again);
    assert.equal(second.received, 0, "no MP_JOIN reached the server's stack");
    const triedAgain = second.sent ?? 2;
    assert.ok(triedAgain >= 2, `a join per connection: ${second.sent}`);
    assert.ok(second.dropped - droppedBefore >= triedAgain, JSON.stringify(second));
    const tc = readCounters(chainDir(c), 2)[1];
    assert.ok(tc.packets >= 4, `tcx on path A counted the connections' packets: ${tc.packets}`);
  });
});
