// The two-path lab: it builds, shapes both paths, tears down cleanly (also on
// failure and on Ctrl-C), and an MPTCP connection in it uses both paths.
import assert from "node:assert/strict";
import { addEndpoint, setLimits } from "../../providers/netlink/mptcp_pm.ts";
import { setupTwoPathLab, type TwoPathLab } from "../../lab/two_path_lab.ts";
import { runTransfer } from "../../lab/mptcp_transfer.ts";
import { readInterfaceCounters } from "../../lab/subflows.ts";
import { programCommand } from "../../providers/system/programs.ts";

const MB = 1_000_000;

function netnsExists(name: string): boolean {
  try {
    Deno.statSync(`/run/netns/${name}`);
    return true;
  } catch {
    return false;
  }
}

async function labNetnsLeft(prefix: string): Promise<string[]> {
  const out = await programCommand(["ip", "netns", "list"], { stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).split("\n")
    .map((line) => line.split(" ")[0])
    .filter((name) => name.startsWith(`${prefix}-`));
}

function txDelta(lab: TwoPathLab, before: ReturnType<typeof readInterfaceCounters>) {
  const after = readInterfaceCounters(lab.client.path);
  return {
    a: after["veth-a"].txBytes - before["veth-a"].txBytes,
    b: after["veth-b"].txBytes - before["veth-b"].txBytes,
  };
}

Deno.test("setupTwoPathLab() builds two shaped paths and teardown() removes everything", async () => {
  const lab = await setupTwoPathLab({ prefix: "sf-labt" });
  try {
    for (const path of lab.paths) {
      const qdisc = await lab.client.exec(["tc", "qdisc", "show", "dev", path.dev]);
      assert.match(qdisc, /tbf .* rate 50Mbit/);
      assert.match(await lab.server.exec(["tc", "qdisc", "show", "dev", path.dev]), /rate 50Mbit/);
      // Reachability (no ping on these machines): a 1 s TCP transfer on this path.
      const before = readInterfaceCounters(lab.client.path);
      const tcp = await runTransfer({
        client: lab.client,
        server: lab.server,
        serverAddress: path.serverAddress,
        bindAddress: path.clientAddress,
        mptcp: false,
        seconds: 1,
        sampleEveryMs: 0,
      });
      assert.ok(tcp.bytesReceived > 0);
      const sent = readInterfaceCounters(lab.client.path)[path.dev].txBytes -
        before[path.dev].txBytes;
      assert.ok(sent >= tcp.bytesReceived, `${path.dev} sent ${sent} bytes`);
    }
    // Source routing: from the second address, even the first path's server address goes via veth-b.
    const route = await lab.client.exec(["ip", "route", "get", "10.1.2.2", "from", "10.1.3.1"]);
    assert.match(route, /dev veth-b/);
  } finally {
    await lab.teardown();
  }
  assert.equal(netnsExists(lab.client.name), false);
  assert.equal(netnsExists(lab.server.name), false);
  await lab.teardown(); // idempotent
});

Deno.test("setupTwoPathLab() removes what it built when a step fails", async () => {
  const prefix = `sf-labfail${Math.floor(Math.random() * 1e6)}`;
  await assert.rejects(setupTwoPathLab({ prefix, burst: "not-a-size" }), /tc qdisc add/);
  assert.deepEqual(await labNetnsLeft(prefix), []);
});

Deno.test("the lab is removed when its process gets SIGINT", async () => {
  const prefix = `sf-labint${Math.floor(Math.random() * 1e6)}`;
  const labModule = new URL("../../lab/two_path_lab.ts", import.meta.url).href;
  const script = `import { setupTwoPathLab } from "${labModule}";
    await setupTwoPathLab({ prefix: "${prefix}" });
    console.log("ready");
    await new Promise(() => setInterval(() => {}, 1000));`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assert.match((await reader.read()).value ?? "", /ready/);
    reader.releaseLock();
    assert.equal((await labNetnsLeft(prefix)).length, 2);
    child.kill("SIGINT");
    assert.equal((await child.status).code, 130);
    assert.deepEqual(await labNetnsLeft(prefix), []);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await child.status;
    const { deleteNetns } = await import("../helpers/netns.ts");
    for (const name of await labNetnsLeft(prefix)) await deleteNetns(name);
  }
});

Deno.test("MPTCP with a subflow endpoint on the client's second address uses both paths", async (t) => {
  const lab = await setupTwoPathLab({ prefix: "sf-labmp" });
  try {
    const [pathA, pathB] = lab.paths;
    const base = { client: lab.client, server: lab.server, serverAddress: pathA.serverAddress };

    await t.step("plain TCP stays on path A (the contrast)", async () => {
      const before = readInterfaceCounters(lab.client.path);
      const tcp = await runTransfer({ ...base, mptcp: false, seconds: 2 });
      const sent = txDelta(lab, before);
      console.log(`  plain TCP goodput ${tcp.goodputMbit.toFixed(1)} Mbit/s`);
      assert.deepEqual(tcp.dataSubflows, []);
      assert.ok(sent.a > MB, `veth-a sent ${sent.a} bytes`);
      assert.ok(sent.b < 0.1 * MB, `veth-b sent ${sent.b} bytes`);
    });

    await t.step("MPTCP forms 2 subflows and each path carries bytes", async () => {
      addEndpoint({ address: pathB.clientAddress, flags: ["subflow"] }, lab.client.path);
      setLimits({ subflows: 1 }, lab.client.path);
      setLimits({ subflows: 1 }, lab.server.path);
      const before = readInterfaceCounters(lab.client.path);
      const mp = await runTransfer({ ...base, mptcp: true, seconds: 2 });
      const sent = txDelta(lab, before);
      console.log(`  MPTCP goodput ${mp.goodputMbit.toFixed(1)} Mbit/s`);
      assert.equal(mp.dataSubflows.length, 2);
      const byLocal = new Map(mp.dataSubflows.map((s) => [s.local, s.bytesAcked]));
      assert.deepEqual([...byLocal.keys()].sort(), [pathA.clientAddress, pathB.clientAddress]);
      for (const [local, acked] of byLocal) assert.ok(acked > MB, `${local} acked ${acked}`);
      assert.ok(sent.a > MB && sent.b > MB, `veth-a ${sent.a}, veth-b ${sent.b} bytes`);
    });
  } finally {
    await lab.teardown();
  }
});
