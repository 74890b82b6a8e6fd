/**
 * TcpTuning on MPTCP subflows in the two-path lab: a rule for one path's
 * subflows, checked per subflow through the kernel's socket diag (`ss -tinHe`).
 */
import assert from "node:assert/strict";
import { applyStack, destroyStack, Stack, TcpTuning } from "../../mod.ts";
import { kernelStore } from "../../providers/state/kernel_store.ts";
import { setupTwoPathLab, type TwoPathLab } from "../../lab/two_path_lab.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { TestResources } from "../helpers/netns.ts";
import { privateCgroup, startProbe } from "../helpers/tcp_tuning_lab.ts";
import { PORT } from "../helpers/tcp_tuning_checks.ts";

/** One TCP socket as `ss -tinHe` lists it. */
interface SsSocket {
  local: string;
  mark: number;
  congestion: string | undefined;
  subflow: boolean;
}

function parseSs(text: string, algorithms: string[]): SsSocket[] {
  const lines = text.split("\n").filter((l) => l.trim());
  const out: SsSocket[] = [];
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [head, info] = [lines[i], lines[i + 1]];
    const local = head.trim().split(/\s+/)[3].replace(/%[^:]+/, "");
    const mark = /fwmark:(0x[0-9a-f]+)/.exec(head);
    out.push({
      local,
      mark: mark ? Number(mark[1]) : 0,
      congestion: info.trim().split(/\s+/).find((t) => algorithms.includes(t)),
      subflow: info.includes("tcp-ulp-mptcp"),
    });
  }
  return out;
}

async function mptcpLab(res: TestResources): Promise<TwoPathLab> {
  const lab = await setupTwoPathLab({ prefix: "sf-ttm", cleanupOnSigint: false });
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

Deno.test("a subflow rule tunes the MPTCP subflows of one path only", async () => {
  await using res = new TestResources();
  const lab = await mptcpLab(res);
  const fs = privateBpffs();
  res.defer("unmount bpffs", () => fs.cleanup());
  const cgroup = privateCgroup();
  res.defer("remove cgroup", () => cgroup.remove());
  const store = kernelStore(fs.root);
  const algorithms = Deno.readTextFileSync("/proc/sys/net/ipv4/tcp_available_congestion_control")
    .trim().split(/\s+/);
  const base = (await lab.client.exec(["sysctl", "-n", "net.ipv4.tcp_congestion_control"])).trim();
  const other = algorithms.find((a) => a !== base)!;
  const [a, b] = lab.paths;
  const stack = new Stack("kt", [
    new TcpTuning("paths", {
      cgroup: cgroup.path,
      rules: [{ match: { local: b.subnet, subflow: true }, set: { congestion: other, mark: 0x2 } }],
    }),
  ]);
  await applyStack(stack, store);
  res.defer("destroy", async () => void await destroyStack(stack, store));

  const start = (ns: string, cg: string | null, cmd: string, o: object) => {
    const p = startProbe<unknown>(ns, cg, cmd, o);
    res.defer(`stop ${cmd}`, () => p.stop());
    return p;
  };
  await start(lab.server.name, null, "serve", {
    host: "0.0.0.0",
    port: PORT,
    mptcp: true,
    greet: true,
  })
    .waitFor(1);
  await start(lab.server.name, null, "serve", { host: "0.0.0.0", port: PORT + 1, greet: true })
    .waitFor(1);
  const mptcp = { host: a.serverAddress, port: PORT, mptcp: true, hold: true };
  await start(lab.client.name, cgroup.path, "connect", mptcp).waitFor(2);
  // Plain TCP from path b's address: not a subflow, so the rule must not apply.
  const plain = { host: a.serverAddress, port: PORT + 1, bind: b.clientAddress, hold: true };
  await start(lab.client.name, cgroup.path, "connect", plain).waitFor(2);

  let sockets: SsSocket[] = [];
  for (let i = 0; i < 100 && sockets.filter((s) => s.subflow).length < 2; i++) {
    await new Promise((r) => setTimeout(r, 50));
    sockets = parseSs(await lab.client.exec(["ss", "-tinHe"]), algorithms);
  }
  const subflowA = sockets.find((s) => s.subflow && s.local.startsWith(`${a.clientAddress}:`));
  const subflowB = sockets.find((s) => s.subflow && s.local.startsWith(`${b.clientAddress}:`));
  const plainB = sockets.find((s) => !s.subflow && s.local.startsWith(`${b.clientAddress}:`));
  assert.ok(subflowA && subflowB && plainB, JSON.stringify(sockets));
  assert.deepEqual([subflowB.congestion, subflowB.mark], [other, 0x2], "path b's subflow");
  assert.deepEqual([subflowA.congestion, subflowA.mark], [base, 0], "path a's subflow");
  assert.deepEqual([plainB.congestion, plainB.mark], [base, 0], "plain TCP on path b");
});
