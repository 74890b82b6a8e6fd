// PathManager in the two-path lab: the example stack applied, then a real
// MPTCP connection forms the expected subflows and both paths carry bytes;
// destroy gives both namespaces back.
import assert from "node:assert/strict";
import { applyStack, destroyStack, kernelStore } from "../../mod.ts";
import { mptcpLabStack } from "../../examples/path_manager_stack.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { setupTwoPathLab } from "../../lab/two_path_lab.ts";
import { runTransfer } from "../../lab/mptcp_transfer.ts";
import { readInterfaceCounters } from "../../lab/subflows.ts";
import { ipEndpoints, ipEndpointsNoId, ipLimits } from "../helpers/path_manager.ts";

const MB = 1_000_000;

Deno.test("PathManager lab stack: an MPTCP connection uses a subflow per path, each carrying bytes", async (t) => {
  const lab = await setupTwoPathLab({ prefix: "sf-pmlab" });
  const fs = privateBpffs();
  try {
    const [pathA, pathB] = lab.paths;
    const store = kernelStore(fs.root);
    const stack = mptcpLabStack(lab.client.path, lab.server.path, "pmlab");
    const original = {
      client: { eps: await ipEndpoints(lab.client), limits: await ipLimits(lab.client) },
      server: { eps: await ipEndpoints(lab.server), limits: await ipLimits(lab.server) },
    };

    await t.step(
      "apply: the client has its path-B subflow endpoint, both sides the limits",
      async () => {
        await applyStack(stack, store);
        assert.deepEqual(await ipEndpointsNoId(lab.client), [
          { address: pathB.clientAddress, dev: pathB.dev, flags: ["subflow"] },
        ]);
        assert.deepEqual(await ipLimits(lab.client), { subflows: 2, addAddrAccepted: 2 });
        assert.deepEqual(await ipLimits(lab.server), { subflows: 2, addAddrAccepted: 0 });
      },
    );

    await t.step("a real MPTCP transfer forms 2 subflows and each path carries bytes", async () => {
      const before = readInterfaceCounters(lab.client.path);
      const mp = await runTransfer({
        client: lab.client,
        server: lab.server,
        serverAddress: pathA.serverAddress,
        mptcp: true,
        seconds: 2,
      });
      const after = readInterfaceCounters(lab.client.path);
      const sent = (dev: string) => after[dev].txBytes - before[dev].txBytes;
      // ss prints a device-bound subflow's address as 10.1.3.1%veth-b.
      const acked = new Map(mp.dataSubflows.map((s) => [s.local, s.bytesAcked]));
      assert.deepEqual([...acked.keys()].sort(), [pathA.clientAddress, pathB.clientAddress]);
      for (const [local, bytes] of acked) assert.ok(bytes > MB, `${local} acked ${bytes} bytes`);
      assert.ok(
        sent(pathA.dev) > MB && sent(pathB.dev) > MB,
        `a ${sent("veth-a")}, b ${sent("veth-b")}`,
      );
    });

    await t.step("destroy gives both namespaces back", async () => {
      await destroyStack(stack, store);
      assert.deepEqual(await ipEndpoints(lab.client), original.client.eps);
      assert.deepEqual(await ipLimits(lab.client), original.client.limits);
      assert.deepEqual(await ipEndpoints(lab.server), original.server.eps);
      assert.deepEqual(await ipLimits(lab.server), original.server.limits);
    });
  } finally {
    fs.cleanup();
    await lab.teardown();
  }
});
