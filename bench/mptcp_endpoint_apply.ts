/**
 * Applying 8 MPTCP endpoints three ways, interleaved, in one scratch netns:
 * a PathManager through `applyStack` (plan + apply in-process), the same
 * through the CLI (Deno startup included), and a shell script calling
 * `ip mptcp endpoint add` 8 times. The netns is reset between runs (untimed).
 *
 * @module
 */
import { applyStack, destroyStack, kernelStore, PathManager, Stack } from "../mod.ts";
import { privateBpffsMount } from "../providers/bpffs.ts";
import { createNetns, type ScratchNetns } from "../providers/lab/netns_kit.ts";
import { listEndpoints } from "../providers/netlink/mptcp_pm.ts";
import {
  type BenchContext,
  formatRatio,
  formatTable,
  summarize,
  timeExpecting,
  TIMING_HEADER,
  timingRow,
} from "./harness.ts";

const REPS = Number(Deno.env.get("BENCH_MPTCP_APPLY_REPS") ?? 7);
const ADDRESSES = Array.from({ length: 8 }, (_, i) => `10.20.0.${i + 1}`);

async function scratchNetns(ctx: BenchContext): Promise<ScratchNetns> {
  const ns = ctx.cleanup.track(await createNetns("sf-bench-ep"), "delete the endpoint netns");
  await ns.exec(["ip", "link", "add", "ep0", "type", "veth", "peer", "name", "ep1"]);
  await ns.exec(["ip", "link", "set", "ep0", "up"]);
  for (const a of ADDRESSES) await ns.exec(["ip", "addr", "add", `${a}/24`, "dev", "ep0"]);
  return ns;
}

function expectEight(ns: ScratchNetns, how: string): void {
  const n = listEndpoints(ns.path).length;
  if (n !== ADDRESSES.length) throw new Error(`${how} left ${n} endpoints, expected 8`);
}

async function stackFile(
  projectRoot: string,
  ns: ScratchNetns,
  cleanupDefer: BenchContext["cleanup"],
) {
  const file = await Deno.makeTempFile({ prefix: "sf-bench-ep-", suffix: ".ts" });
  cleanupDefer.defer("remove the bench stack file", () => Deno.remove(file));
  const endpoints = ADDRESSES.map((address) => ({ address, flags: ["subflow"] }));
  await Deno.writeTextFile(
    file,
    `import { PathManager, Stack } from "${projectRoot}/mod.ts";\n` +
      `export default new Stack("bench-ep", [new PathManager("pm", ${
        JSON.stringify({ netns: ns.path, endpoints })
      })]);\n`,
  );
  return file;
}

/**
 * Times the three ways and prints medians with ratios to the script.
 *
 * @example
 * ```ts
 * await timeEndpointApply({ cleanup, projectRoot });
 * ```
 */
export async function timeEndpointApply(ctx: BenchContext): Promise<void> {
  const ns = await scratchNetns(ctx);
  const fs = privateBpffsMount();
  ctx.cleanup.defer("unmount the endpoint bench bpffs", () => fs.cleanup());
  const store = kernelStore(fs.root);
  const endpoints = ADDRESSES.map((address) => ({ address, flags: ["subflow" as const] }));
  const stack = new Stack("bench-ep", [new PathManager("pm", { netns: ns.path, endpoints })]);
  const file = await stackFile(ctx.projectRoot, ns, ctx.cleanup);
  const script = ADDRESSES.map((a) => `ip -n ${ns.name} mptcp endpoint add ${a} subflow`).join(
    " && ",
  );
  const cliArgs = ["run", "-A", `${ctx.projectRoot}/main.ts`, "apply", "--auto-approve"];
  const times = { lib: [] as number[], cli: [] as number[], ip: [] as number[] };
  for (let i = 0; i < REPS; i++) {
    const start = performance.now();
    await applyStack(stack, store);
    times.lib.push((performance.now() - start) / 1000);
    expectEight(ns, "applyStack");
    await destroyStack(stack, store);
    const cli = await timeExpecting(0, [
      Deno.execPath(),
      ...cliArgs,
      "-s",
      file,
      "--state-root",
      fs.root,
    ]);
    times.cli.push(cli.seconds);
    expectEight(ns, "the CLI");
    await destroyStack(stack, store);
    times.ip.push((await timeExpecting(0, ["bash", "-c", script])).seconds);
    expectEight(ns, "the script");
    await ns.exec(["ip", "mptcp", "endpoint", "flush"]);
  }
  const [lib, cli, ip] = [summarize(times.lib), summarize(times.cli), summarize(times.ip)];
  console.log("\napplying 8 endpoints (interleaved; the netns is reset between runs)");
  console.log(formatTable([
    [...TIMING_HEADER, "vs script"],
    [
      ...timingRow("PathManager, applyStack (plan + apply)", lib),
      formatRatio(lib.median / ip.median),
    ],
    [
      ...timingRow("PathManager, CLI apply (Deno startup incl.)", cli),
      formatRatio(cli.median / ip.median),
    ],
    [...timingRow("script: ip mptcp endpoint add ×8", ip), formatRatio(1)],
  ]));
}
