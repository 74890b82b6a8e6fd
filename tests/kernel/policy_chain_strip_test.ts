// PolicyChain stripAddAddr on real MPTCP traffic in the two-path lab: the
// server announces its path-B address (a `signal` endpoint); the chain in the
// server's netns overwrites that ADD_ADDR option with NOPs on egress. The
// client never learns the address, and the connection falls back to plain
// TCP (the kernel's fallback counters grow), which is exactly what the plan
// warns of and why the spec demands allowFallback.
import assert from "node:assert/strict";
import { applyStack } from "../../mod.ts";
import { Stack } from "../../engine/stack.ts";
import { SpecError } from "../../engine/errors.ts";
import { PolicyChain, type PolicyChainSpecInput } from "../../resources/policy_chain.ts";
import { LAB_PATHS } from "../../lab/two_path_lab.ts";
import { runBurst } from "../../lab/mptcp_burst.ts";
import { addEndpoint, setLimits } from "../../providers/netlink/mptcp_pm.ts";
import { writeSysctl } from "../../providers/system/sysctl.ts";
import { readCounters } from "../../providers/policy_chain/kernel.ts";
import {
  chainDir,
  fallbacks,
  mptcpCounters,
  settled,
  STACK,
  withChainLab,
} from "../helpers/policy_chain_lab.ts";

const [PATH_A, PATH_B] = LAB_PATHS;

Deno.test("stripAddAddr: refused without allowFallback; with it, the ADD_ADDR never arrives and the connection falls back to TCP", async () => {
  await withChainLab("sf-pc-strip", async (c) => {
    const { client, server } = c.lab;
    setLimits({ subflows: 2, addAddrAccepted: 2 }, client.path);
    setLimits({ subflows: 2, addAddrAccepted: 0 }, server.path);
    addEndpoint({ address: PATH_B.serverAddress, flags: ["signal"] }, server.path);
    writeSysctl("net.mptcp.add_addr_timeout", 1, server.path);
    const spec = (allowFallback?: true): PolicyChainSpecInput => ({
      netns: server.path,
      attach: [{ dev: PATH_A.dev, hooks: ["egress"] }],
      rules: [{
        select: { mptcp: "addAddr" },
        act: [{ stripAddAddr: true, ...(allowFallback ? { allowFallback } : {}) }, {
          record: true,
        }],
      }],
    });
    assert.throws(
      () => new PolicyChain("chain", spec()),
      (e: unknown) =>
        e instanceof SpecError && /rules\[0\]\.act\[0\]\.allowFallback/.test(e.message),
    );
    const stack = new Stack(STACK, [new PolicyChain("chain", spec(true))]);
    const { plan } = await applyStack(stack, c.store);
    const text = plan.steps.flatMap((s) => s.changes.map((x) => x.reason)).join("\n");
    assert.match(text, /back to plain TCP/, "the plan warns of the fallback");
    const before = { client: mptcpCounters(client.path), server: mptcpCounters(server.path) };
    const burst = await runBurst(client, PATH_A.serverAddress, c.port, {
      count: 1,
      keepEvery: 1,
      seconds: 30,
    });
    try {
      // 6.1 has no AddAddrTx counter: there, wait on the rule's own count of ADD_ADDR packets.
      const hasTx = "AddAddrTx" in before.server;
      const sent = await settled(
        () =>
          hasTx ? mptcpCounters(server.path).AddAddrTx : readCounters(chainDir(c), 1)[0].packets,
        3000,
        20_000,
      );
      const after = { client: mptcpCounters(client.path), server: mptcpCounters(server.path) };
      if (hasTx) assert.ok(sent > before.server.AddAddrTx, "the server sent ADD_ADDR");
      assert.equal(after.client.AddAddr - before.client.AddAddr, 0, "no ADD_ADDR arrived");
      const fell = [
        ...fallbacks(before.client, after.client),
        ...fallbacks(before.server, after.server),
      ];
      console.log("fallback counters grown:", JSON.stringify(fell));
      assert.ok(fell.length > 0, "the connection fell back to plain TCP");
      assert.ok(readCounters(chainDir(c), 1)[0].packets > 0, "the rule stripped ADD_ADDR packets");
    } finally {
      await burst.stop();
    }
  });
});
