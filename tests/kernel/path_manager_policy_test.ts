// Path-manager policies run by a real agent (startAgent) in the two-path
// lab's client netns in userspace-PM mode, over real MPTCP connections; the
// results are read from the kernel's MPTCP diag and `ss -ti`, not from the
// agent: ndiffports 3 gives each of 20 open connections 3 subflows;
// fullmesh with a server-side agent announcing the server's second address
// (ANNOUNCE, signal) gives each connection 2 × 2 = 4 subflows, also for
// connections that predate both agents (met first in the start resync); the example
// policy (examples/policies/second_path_for_ports.ts) opens the second path
// only for connections to its port, proven by the bytes each path carried.
import assert from "node:assert/strict";
import { LAB_PATHS } from "../../lab/two_path_lab.ts";
import { runTransfer, type TransferResult } from "../../lab/mptcp_transfer.ts";
import { groupByConnection, type MptcpConnectionStat } from "../../lab/subflows.ts";
import { TestResources } from "../helpers/netns.ts";
import { runBurst } from "../../lab/mptcp_burst.ts";
import {
  fullmeshScenario,
  ndiffportsScenario,
  pmAgent,
  policyLab,
  subflowsSettle,
} from "../helpers/policy_lab.ts";

const [PATH_A, PATH_B] = LAB_PATHS;

/**
 * The connection to `port` that carried the most bytes in any sample of a
 * transfer (the data connection; an earlier transfer's may linger in `ss`).
 */
function busiest(r: TransferResult, port: number): MptcpConnectionStat {
  const all = r.samples.flatMap((s) =>
    groupByConnection(s.subflows.filter((sf) => sf.remotePort === port))
  );
  return all.reduce((a, b) => (b.bytesAcked > a.bytesAcked ? b : a));
}

Deno.test("ndiffports 3: 20 open connections each end with 3 subflows (diag and ss -ti)", async () => {
  await using res = new TestResources();
  await ndiffportsScenario(res, { prefix: "sf-ndp", port: 7301, subflows: 3, connections: 20 });
});

Deno.test("fullmesh: 2 client × 2 server addresses (the server's announced by its agent) give 4 subflows each", async () => {
  await using res = new TestResources();
  await fullmeshScenario(res, { prefix: "sf-fm", port: 7302, connections: 10 });
});

Deno.test("fullmesh after the fact: connections open before both agents start get 4 subflows from the start resync (the server side read from the subflow flags)", async () => {
  await using res = new TestResources();
  const { lab, dir } = await policyLab(res, "sf-fmr", { holdPort: 7303, serverUserspace: true });
  const burst = await runBurst(lab.client, PATH_A.serverAddress, 7303, {
    count: 5,
    keepEvery: 1,
    seconds: 20,
  });
  res.defer("stop burst", () => burst.stop());
  // The client's agent first: an ADD_ADDR that reaches a netns with no agent
  // listening is an event nobody hears, and diag does not keep it.
  await pmAgent(res, dir, "client", lab.client.path, {
    policy: { builtin: "fullmesh" },
    locals: [{ address: PATH_B.clientAddress, id: 2 }],
  });
  await pmAgent(res, dir, "server", lab.server.path, {
    policy: { builtin: "fullmesh" },
    locals: [{ address: PATH_B.serverAddress, id: 2, signal: true }],
  });
  const counts = await subflowsSettle(lab.client.path, 5, () => 4);
  assert.deepEqual([...counts.values()], Array(5).fill(4), "4 subflows each (diag)");
});

Deno.test("example policy second_path_for_ports: only connections to its port get path B, and carry bytes there", async () => {
  await using res = new TestResources();
  const { lab, dir } = await policyLab(res, "sf-ex");
  const module = new URL("../../examples/policies/second_path_for_ports.ts", import.meta.url);
  await pmAgent(res, dir, "client", lab.client.path, {
    policy: { module: module.pathname, params: { ports: [5443] } },
    locals: [{ address: PATH_B.clientAddress, id: 2 }],
  });
  const base = { client: lab.client, server: lab.server, serverAddress: PATH_A.serverAddress };
  const chosen = await runTransfer({ ...base, mptcp: true, port: 5443, seconds: 3 });
  const other = await runTransfer({ ...base, mptcp: true, port: 5080, seconds: 3 });
  const [chosenData, otherData] = [busiest(chosen, 5443), busiest(other, 5080)];
  const onB = (c: MptcpConnectionStat) =>
    c.subflows.filter((s) => s.local === PATH_B.clientAddress).reduce(
      (n, s) => n + s.bytesAcked,
      0,
    );
  assert.equal(chosenData.subflows.length, 2, "port 5443: two subflows");
  assert.ok(onB(chosenData) > 1_000_000, `port 5443: ${onB(chosenData)} bytes over path B`);
  assert.ok(otherData.bytesAcked > 1_000_000, "port 5080 carried data");
  assert.equal(otherData.subflows.length, 1, "port 5080: one subflow");
  assert.equal(onB(otherData), 0, "port 5080 carried nothing over path B");
});
