/**
 * Applying 8 MPTCP endpoints three ways, interleaved, in one scratch netns:
 * a PathManager through `applyStack` (plan + apply in-process), the same
 * through the CLI (Deno startup included), and a shell script calling
 * `ip mptcp endpoint add` 8 times. The netns is reset between runs (untimed).
 *
 * @module
 */
import { applyStack, destroyStack, kernelStore, PathManager, Stack } from "../mod.ts";
import { privateBpffsMount } from "../providers/state/bpffs.ts";
import { createNetns, type ScratchNetns } from "../lab/netns_kit.ts";
import { listEndpoints } from "../providers/netlink/mptcp_pm.ts";
import {
  type BenchContext,
  formatRatio,
  formatTable,
  summarize,
  type Summary,
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

function addScript(ns: ScratchNetns): string {
  return ADDRESSES.map((a) => `ip -n ${ns.name} mptcp endpoint add ${a} subflow`).join(" && ");
}

function printTimes(lib: Summary, cli: Summary, ip: Summary): void {
  console.log("\napplying 8 endpoints (interleaved; the netns is reset between runs)");
  const row = (
    label: string,
    s: Summary,
  ) => [...timingRow(label, s), formatRatio(s.median / ip.median)];
  console.log(formatTable([
    [...TIMING_HEADER, "vs script"],
    row("PathManager, applyStack (plan + apply)", lib),
    row("PathManager, CLI apply (Deno startup incl.)", cli),
    row("script: ip mptcp endpoint add ×8", ip),
  ]));
}

/**
 * Times the three ways and prints medians with ratios to the script.
 *
 * @example From a benchmark
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
  const cli = [Deno.execPath(), "run", "-A", `${ctx.projectRoot}/main.ts`, "apply"];
  const ways: Record<string, () => Promise<number>> = {
    lib: async () => {
      const start = performance.now();
      await applyStack(stack, store);
      return (performance.now() - start) / 1000;
    },
    cli: async () =>
      (await timeExpecting(0, [...cli, "--auto-approve", "-s", file, "--state-root", fs.root]))
        .seconds,
    ip: async () => (await timeExpecting(0, ["bash", "-c", addScript(ns)])).seconds,
  };
  const times: Record<string, number[]> = { lib: [], cli: [], ip: [] };
  for (let i = 0; i < REPS; i++) {
    for (const [way, run] of Object.entries(ways)) {
      times[way].push(await run());
      expectEight(ns, way);
      if (way === "ip") await ns.exec(["ip", "mptcp", "endpoint", "flush"]);
      else await destroyStack(stack, store);
    }
  }
  printTimes(summarize(times.lib), summarize(times.cli), summarize(times.ip));
}
