// PolicyChain's selectors and the mark actor on real IPv4 and IPv6 TCP
// (MPTCP) connections: the chain on the server's ingress marks packets to one
// port, and `ip rule fwmark … blackhole` turns the mark into something a
// client sees (its connections fail). IPv6 and IPv4 peers are matched by
// their own prefixes, an IPv6 prefix never matches IPv4, and packets to
// another port are left alone. A control run shows the connections work
// without the chain.
import assert from "node:assert/strict";
import { applyStack, destroyStack, kernelStore, PolicyChain, Stack } from "../../mod.ts";
import { run } from "../../lab/command.ts";
import { has } from "../../providers/system/features.ts";
import { TCX } from "../../providers/policy_chain/driver.ts";
import { runBurst, startHoldingServer } from "../../lab/mptcp_burst.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { readCounters } from "../../providers/policy_chain/kernel.ts";
import { type ScratchNetns, TestResources } from "../helpers/netns.ts";

const MARKED = 7500;
const OTHER = 7501;

/** Opens `count` connections (3 s timeout each); returns how many were made. */
async function connections(client: ScratchNetns, address: string, port: number, count = 2) {
  const burst = await runBurst(client, address, port, { count, keepEvery: 1, seconds: 20 });
  await burst.stop();
  return burst.made;
}

async function waitForIpv6(ns: ScratchNetns) {
  for (let i = 0; i < 50; i++) {
    if (!(await run(["ip", "-n", ns.name, "-6", "addr", "show", "tentative"])).trim()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${ns.name}: IPv6 addresses still tentative`);
}

async function markAndRecord(via: "tcx" | "tc" | undefined) {
  await using res = new TestResources();
  const bpffs = privateBpffs();
  res.defer("unmount bpffs", () => bpffs.cleanup());
  const client = await res.netns("sf-pcm-c");
  const server = await res.netns("sf-pcm-s");
  await res.veth(
    { netns: client, name: "veth0", addresses: ["10.9.0.1/24", "fd00:9::1/64"] },
    { netns: server, name: "veth0", addresses: ["10.9.0.2/24", "fd00:9::2/64"] },
  );
  await Promise.all([waitForIpv6(client), waitForIpv6(server)]);
  for (const family of ["-4", "-6"]) {
    // The local table's rule (pref 0) would deliver before any fwmark rule: move it after.
    const rule = ["ip", "-n", server.name, family, "rule"];
    await run([...rule, "add", "pref", "10", "fwmark", "16", "blackhole"]);
    await run([...rule, "add", "pref", "100", "table", "local"]);
    await run([...rule, "del", "pref", "0", "table", "local"]);
  }
  for (const port of [MARKED, OTHER]) {
    const holding = await startHoldingServer(server, "::", port, 60);
    res.defer(`stop holding server ${port}`, () => holding.stop());
  }
  assert.deepEqual(
    [await connections(client, "fd00:9::2", MARKED), await connections(client, "10.9.0.2", MARKED)],
    [2, 2],
    "without the chain every connection is made",
  );
  const store = kernelStore(bpffs.root);
  const stack = new Stack("pcm", [
    new PolicyChain("chain", {
      netns: server.path,
      via,
      attach: [{ dev: "veth0", hooks: ["ingress"] }],
      rules: [
        {
          select: {
            localPort: MARKED,
            any: [{ remote: "fd00:9::/64" }, { remote: "10.9.0.0/24" }],
          },
          act: [{ mark: 16 }, { record: true }],
        },
        { select: { remote: "::/0", direction: "ingress" }, act: [{ record: true }] },
      ],
    }),
  ]);
  res.defer("destroy", async () => {
    await destroyStack(stack, store);
  });
  await applyStack(stack, store);
  const dir = `${bpffs.root}/pcm/chain`;
  assert.equal(
    await connections(client, "fd00:9::2", MARKED),
    0,
    "IPv6 to the marked port: blackholed",
  );
  assert.equal(
    await connections(client, "10.9.0.2", MARKED),
    0,
    "IPv4 to the marked port: blackholed",
  );
  const [marked, v6] = readCounters(dir, 2);
  assert.ok(marked.packets >= 4, `each refused SYN was marked and counted: ${marked.packets}`);
  assert.equal(v6.packets, 0, "the first match took them all");
  assert.equal(await connections(client, "10.9.0.2", OTHER), 2, "IPv4 to another port: untouched");
  assert.equal(readCounters(dir, 2)[1].packets, 0, "::/0 does not match IPv4");
  assert.equal(await connections(client, "fd00:9::2", OTHER), 2, "IPv6 to another port: untouched");
  assert.ok(readCounters(dir, 2)[1].packets > 0, "::/0 matches IPv6");
  assert.equal(
    readCounters(dir, 2)[0].packets,
    marked.packets,
    "the marking rule saw nothing more",
  );
}

// Without `via` the kernel decides: tcx links on 6.6+, classic tc filters before.
Deno.test("mark and record on IPv4 and IPv6 (the kernel's default hook): first match wins, prefixes keep their family", () =>
  markAndRecord(undefined));

Deno.test({
  name: `mark and record on IPv4 and IPv6 through classic tc filters${
    has(TCX) ? "" : " (skipped: the default above already is tc on this kernel)"
  }`,
  ignore: !has(TCX),
  fn: () => markAndRecord("tc"),
});
