// @vm-kernels 6.12 7.3
/**
 * A declared BPF congestion control on real MPTCP traffic in the two-path lab,
 * inside the VM (registering one can take a kernel down): a TcpTuning rule
 * gives path A's subflows `sf_reno` (the kernel's socket diag, `ss -tinHe`,
 * shows it; path B keeps the default). Destroy, with a connection still using
 * sf_reno, returns, unregisters the name and says the connection keeps it
 * loaded. The per-path pacing split, which registers nothing, runs on the host
 * (tests/kernel/tcp_tuning_pacing_split_test.ts).
 *
 * @module
 */
import assert from "node:assert/strict";
import { applyStack, CongestionControl, destroyStack, Stack, TcpTuning } from "../../../mod.ts";
import { kernelStore } from "../../../providers/state/kernel_store.ts";
import { setupTwoPathLab, type TwoPathLab } from "../../../lab/two_path_lab.ts";
import { privateBpffs } from "../../../lab/bpffs.ts";
import { TestResources } from "../../helpers/netns.ts";
import { privateCgroup, startProbe } from "../../helpers/tcp_tuning_lab.ts";
import { PORT } from "../../helpers/tcp_tuning_checks.ts";
import { availableCongestion } from "../../../providers/congestion_control/kernel.ts";
import { skipOutsideVm, vmKernel } from "./vm_env.ts";

const NAME = "sf_reno";

/** Each TCP socket `ss -tinHe` lists: local address, congestion algorithm, subflow or not. */
function parseSs(text: string, algorithms: string[]) {
  const lines = text.split("\n").filter((l) => l.trim());
  const out: { local: string; congestion: string | undefined; subflow: boolean }[] = [];
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const local = lines[i].trim().split(/\s+/)[3].replace(/%[^:]+/, "");
    const tokens = lines[i + 1].trim().split(/\s+/);
    const subflow = lines[i + 1].includes("tcp-ulp-mptcp");
    out.push({ local, congestion: tokens.find((t) => algorithms.includes(t)), subflow });
  }
  return out;
}

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

function stackWith(lab: TwoPathLab, cgroup: string): Stack {
  return new Stack("kc", [
    new TcpTuning("paths", {
      cgroup,
      rules: [{ match: { local: lab.paths[0].subnet, subflow: true }, set: { congestion: NAME } }],
    }),
    new CongestionControl("reno", { program: "sfReno" }),
  ]);
}

function tests(): void {
  Deno.test("sf_reno on path A's subflows, destroy with a live connection returns and warns", async (t) => {
    assert.ok(!availableCongestion().includes(NAME), `${NAME} is free before the test`);
    await using res = new TestResources();
    const lab = await mptcpLab(res);
    const fs = privateBpffs();
    res.defer("unmount bpffs", () => fs.cleanup());
    const cgroup = privateCgroup();
    res.defer("remove cgroup", () => cgroup.remove());
    const store = kernelStore(fs.root);
    const [a, b] = lab.paths;
    const stack = stackWith(lab, cgroup.path);
    await applyStack(stack, store);
    res.defer("destroy", async () => void await destroyStack(stack, store));
    const base = (await lab.client.exec(["sysctl", "-n", "net.ipv4.tcp_congestion_control"]))
      .trim();

    await t.step("ss shows sf_reno on path A's subflow only", async () => {
      const start = (ns: string, cg: string | null, cmd: string, o: object) => {
        const p = startProbe<unknown>(ns, cg, cmd, o);
        res.defer(`stop ${cmd}`, () => p.stop());
        return p;
      };
      const serve = { host: "0.0.0.0", port: PORT, mptcp: true, greet: true };
      await start(lab.server.name, null, "serve", serve).waitFor(1);
      const connect = { host: a.serverAddress, port: PORT, mptcp: true, hold: true };
      await start(lab.client.name, cgroup.path, "connect", connect).waitFor(2);
      const algorithms = availableCongestion();
      let subflows: ReturnType<typeof parseSs> = [];
      for (let i = 0; i < 100 && subflows.length < 2; i++) {
        await new Promise((r) => setTimeout(r, 50));
        subflows = parseSs(await lab.client.exec(["ss", "-tinHe"]), algorithms).filter((s) =>
          s.subflow
        );
      }
      const on = (p: { clientAddress: string }) =>
        subflows.find((s) => s.local.startsWith(`${p.clientAddress}:`));
      assert.deepEqual(
        [on(a)?.congestion, on(b)?.congestion],
        [NAME, base],
        JSON.stringify(subflows),
      );
    });

    await t.step(
      "destroy returns with a connection on sf_reno, and says it stays loaded",
      async () => {
        const warnings: string[] = [];
        const reporter = { progress() {}, warn: (m: string) => void warnings.push(m) };
        await destroyStack(stack, store, { reporter });
        assert.ok(!availableCongestion().includes(NAME), "unregistered");
        assert.ok(
          warnings.some((w) =>
            w.startsWith(`${NAME} is unregistered; connections still using it keep it loaded`)
          ),
          JSON.stringify(warnings),
        );
      },
    );
  });
}

if (!vmKernel()) skipOutsideVm("CongestionControl on MPTCP traffic (registers sf_reno)");
else tests();
