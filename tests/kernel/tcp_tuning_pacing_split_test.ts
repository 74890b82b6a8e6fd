/**
 * Per-path `maxPacingRate` caps on MPTCP subflows (TcpTuning rules matching
 * each path's local subnet) and the default scheduler's byte split measured
 * against the caps, in the two-path lab. No congestion control is registered
 * here, so it runs on the host; the BPF congestion control on the same lab
 * runs in the VM tier (tests/vm/guest/congestion_control_traffic_test.ts).
 */
import assert from "node:assert/strict";
import { applyStack, destroyStack, Stack, TcpTuning } from "../../mod.ts";
import { kernelStore } from "../../providers/state/kernel_store.ts";
import { setupTwoPathLab, type TwoPathLab } from "../../lab/two_path_lab.ts";
import { runTransfer } from "../../lab/mptcp_transfer.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { TestResources } from "../helpers/netns.ts";
import { privateCgroup } from "../helpers/tcp_tuning_lab.ts";
import { PORT } from "../helpers/tcp_tuning_checks.ts";

/** How far path A's measured share of the bytes may be from its share of the caps. */
const SHARE_TOLERANCE = 0.08;

async function mptcpLab(res: TestResources): Promise<TwoPathLab> {
  const lab = await setupTwoPathLab({ prefix: "sf-cc", cleanupOnSigint: false });
  res.defer("tear down the two-path lab", () => lab.teardown());
  for (const ns of [lab.client, lab.server]) {
    await ns.exec(["ip", "mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "2"]);
  }
  const b = lab.paths[1];
  await lab.client.exec([
    "ip",
    "mptcp",
    "endpoint",
    "add",
    b.clientAddress,
    "dev",
    b.dev,
    "subflow",
  ]);
  return lab;
}

function stackWith(lab: TwoPathLab, cgroup: string, capA: string, capB: string): Stack {
  const [a, b] = lab.paths;
  return new Stack("kc", [
    new TcpTuning("paths", {
      cgroup,
      rules: [
        {
          match: { local: a.subnet, subflow: true },
          set: { maxPacingRate: capA },
        },
        { match: { local: b.subnet, subflow: true }, set: { maxPacingRate: capB } },
      ],
    }),
  ]);
}

/** Path A's share of the bytes one 3 s MPTCP transfer from the cgroup sent. */
async function shareOfPathA(lab: TwoPathLab, cgroup: string): Promise<number> {
  const [a] = lab.paths;
  const r = await runTransfer({
    client: lab.client,
    server: lab.server,
    serverAddress: a.serverAddress,
    mptcp: true,
    seconds: 3,
    clientCgroup: cgroup,
    port: PORT + 7,
  });
  assert.equal(r.dataSubflows.length, 2, JSON.stringify(r.dataSubflows));
  const acked = (prefix: string) =>
    r.dataSubflows.filter((s) => s.local === prefix).reduce((n, s) => n + s.bytesAcked, 0);
  const total = r.dataSubflows.reduce((n, s) => n + s.bytesAcked, 0);
  return acked(a.clientAddress) / total;
}

Deno.test("the default scheduler's split follows per-path pacing caps (10/30, then 20/5 Mbit/s)", async () => {
  await using res = new TestResources();
  const lab = await mptcpLab(res);
  const fs = privateBpffs();
  res.defer("unmount bpffs", () => fs.cleanup());
  const cgroup = privateCgroup();
  res.defer("remove cgroup", () => cgroup.remove());
  const store = kernelStore(fs.root);
  const stack = stackWith(lab, cgroup.path, "10mbit", "30mbit");
  await applyStack(stack, store);
  res.defer("destroy", async () => void await destroyStack(stack, store));
  const first = await shareOfPathA(lab, cgroup.path);
  assert.ok(Math.abs(first - 0.25) <= SHARE_TOLERANCE, `10/30: path A carried ${first}`);
  await applyStack(stackWith(lab, cgroup.path, "20mbit", "5mbit"), store);
  const second = await shareOfPathA(lab, cgroup.path);
  assert.ok(Math.abs(second - 0.8) <= SHARE_TOLERANCE, `20/5: path A carried ${second}`);
});
