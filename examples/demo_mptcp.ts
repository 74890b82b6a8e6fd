/**
 * The demo's MPTCP act: two namespaces joined by two 50 Mbit/s paths, one
 * plain-TCP transfer, the PathManager stack applied, the same transfer over
 * MPTCP, both goodputs side by side, and the stack destroyed again.
 *
 * @module
 */
import { applyStack, destroyStack, kernelStore, plan, renderPlan } from "../mod.ts";
import type { CleanupStack } from "../lab/netns_kit.ts";
import { setupTwoPathLab, type TwoPathLab } from "../lab/two_path_lab.ts";
import { runTransfer, type TransferResult } from "../lab/mptcp_transfer.ts";
import { mptcpLabStack } from "./path_manager_stack.ts";

const color = Deno.stdout.isTerminal() && Deno.env.get("NO_COLOR") === undefined;
const say = (text: string) => console.log(color ? `\x1b[1m${text}\x1b[0m` : text);
const SECONDS = 2;

function transfer(lab: TwoPathLab, mptcp: boolean): Promise<TransferResult> {
  return runTransfer({
    client: lab.client,
    server: lab.server,
    serverAddress: lab.paths[0].serverAddress,
    mptcp,
    seconds: SECONDS,
  });
}

/** Megabytes each lab path carried, from the subflows' acked byte counters. */
function perPath(lab: TwoPathLab, result: TransferResult): string {
  if (!result.mptcp) return "path A only";
  return lab.paths.map((p) => {
    // ss writes a device-bound subflow's address as 10.1.3.1%veth-b.
    const bytes = result.dataSubflows.filter((s) => s.local === p.clientAddress)
      .reduce((n, s) => n + s.bytesAcked, 0);
    return `${p.dev} ${(bytes / 1e6).toFixed(1)} MB`;
  }).join(", ");
}

function printSideBySide(lab: TwoPathLab, tcp: TransferResult, mp: TransferResult): void {
  const rows = [
    ["", "goodput", "subflows", "bytes per path"],
    ["plain TCP", `${tcp.goodputMbit.toFixed(1)} Mbit/s`, "1 (TCP)", perPath(lab, tcp)],
    [
      "MPTCP",
      `${mp.goodputMbit.toFixed(1)} Mbit/s`,
      String(mp.dataSubflows.length),
      perPath(lab, mp),
    ],
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) {
    console.log(("  " + r.map((c, i) => c.padEnd(widths[i])).join("   ")).trimEnd());
  }
  const ratio = mp.goodputMbit / tcp.goodputMbit;
  console.log(
    `  MPTCP moved ${ratio.toFixed(2)}× the data of one TCP connection (receiver goodput)`,
  );
}

/**
 * Runs the MPTCP act. Everything it builds is registered on `cleanup`, so
 * Ctrl-C or a failure removes it; `root` is the state root (a private bpffs).
 *
 * @example From the demo
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { CleanupStack } from "../lab/netns_kit.ts";
 * import type { PrivateBpffs } from "../providers/state/bpffs.ts";
 *
 * async function act(cleanup: CleanupStack, bpffs: PrivateBpffs): Promise<void> {
 *   await runMptcpAct(cleanup, bpffs.root);
 * }
 * ```
 */
export async function runMptcpAct(cleanup: CleanupStack, root: string): Promise<void> {
  say("\n== MPTCP: two namespaces joined by two paths, each shaped to 50 Mbit/s");
  const lab = await setupTwoPathLab({ prefix: "sf-demo-mp", cleanupOnSigint: false });
  cleanup.defer("tear down the MPTCP lab", () => lab.teardown());
  console.log(`client ${lab.client.path}, server ${lab.server.path}`);
  say(`\n== a ${SECONDS} s plain TCP transfer (one path)`);
  const tcp = await transfer(lab, false);
  console.log(`  ${tcp.goodputMbit.toFixed(1)} Mbit/s`);

  const stack = mptcpLabStack(lab.client.path, lab.server.path, "demo-mptcp");
  const store = kernelStore(root);
  say("\n== plan and apply the PathManager stack (examples/path_manager_stack.ts)");
  console.log(renderPlan(await plan(stack, store), { color }));
  let applied = false;
  cleanup.defer("destroy the PathManager stack", async () => {
    if (applied) await destroyStack(stack, store);
  });
  await applyStack(stack, store);
  applied = true;

  say(`\n== the same ${SECONDS} s transfer over MPTCP`);
  const mp = await transfer(lab, true);
  printSideBySide(lab, tcp, mp);

  say("\n== destroy: the namespaces get their original MPTCP settings back");
  const destroyed = await destroyStack(stack, store);
  applied = false;
  console.log(`removed ${destroyed.applied} resource(s)`);
}
