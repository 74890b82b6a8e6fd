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
import { spawnHelper } from "../helpers/python_helper.ts";
import { addEndpoint, setLimits } from "../../providers/netlink/mptcp_pm.ts";
import { writeSysctl } from "../../providers/system/sysctl.ts";
import { readCounters } from "../../providers/policy_chain/kernel.ts";
import {
  chainDir,
  type ChainLab,
  fallbacks,
  mptcpCounters,
  settled,
  sleep,
  STACK,
  withChainLab,
} from "../helpers/policy_chain_lab.ts";

const [PATH_A, PATH_B] = LAB_PATHS;

// Connects over MPTCP, says so, sends one byte on a stdin line, then holds until stdin closes.
const QUIET_CLIENT = `
import socket, sys
addr, port, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
s.settimeout(limit)
s.connect((addr, port))
print("connected", flush=True)
sys.stdin.readline()
s.sendall(b"x")
print("sent", flush=True)
sys.stdin.read()
`;

type Counters = Record<string, number>;

/** Waits (bounded, 10 s) for fallback counters to grow on either side; returns those grown. */
async function fallbacksGrown(c: ChainLab, before: { client: Counters; server: Counters }) {
  const deadline = Date.now() + 10_000;
  while (true) {
    const grown = [
      ...fallbacks(before.client, mptcpCounters(c.lab.client.path)),
      ...fallbacks(before.server, mptcpCounters(c.lab.server.path)),
    ];
    if (grown.length > 0 || Date.now() > deadline) return grown;
    await sleep(200);
  }
}

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
    // The client sends nothing until the ADD_ADDR went out, so the stripped ADD_ADDR (a pure ACK
    // whose other MPTCP options the kernel drops to make room) is the first packet it gets after
    // the handshake. Had a data ACK with DSS come first, the client would already be fully
    // established and ignore the option-less ACK: the fallback needs that order (a loaded
    // pristine-root run got it the other way round with a client that sent at once).
    const cli = spawnHelper(client, QUIET_CLIENT, [PATH_A.serverAddress, c.port, 30]);
    try {
      assert.equal(await cli.line(), "connected");
      // 6.1 has no AddAddrTx counter: there, wait on the rule's own count of ADD_ADDR packets.
      const hasTx = "AddAddrTx" in before.server;
      const sent = await settled(
        () =>
          hasTx ? mptcpCounters(server.path).AddAddrTx : readCounters(chainDir(c), 1)[0].packets,
        3000,
        20_000,
      );
      if (hasTx) assert.ok(sent > before.server.AddAddrTx, "the server sent ADD_ADDR");
      await cli.say("go");
      assert.equal(await cli.line(), "sent");
      const fell = await fallbacksGrown(c, before);
      const after = mptcpCounters(client.path);
      assert.equal(after.AddAddr - before.client.AddAddr, 0, "no ADD_ADDR arrived");
      console.log("fallback counters grown:", JSON.stringify(fell));
      // Seen on 6.18 and 6.12: the fallback, every time. Seen on 6.1 (which also lacks
      // AddAddrTx): none; the connection keeps MPTCP and just never learns the address.
      if (hasTx) assert.ok(fell.length > 0, "the connection fell back to plain TCP");
      assert.ok(readCounters(chainDir(c), 1)[0].packets > 0, "the rule stripped ADD_ADDR packets");
    } finally {
      await cli.stop();
    }
  });
});
