/**
 * `deno task demo`: two acts in throwaway namespaces, everything destroyed
 * again even on Ctrl-C.
 * 1. SocketLookupRedirect: two tiny listeners, port sharing on disjoint
 *    prefixes and an any-port prefix, proven with real connections.
 * 2. PathManager: a two-path lab, the same transfer over plain TCP and then
 *    over MPTCP with a declared subflow endpoint, goodputs side by side.
 *
 * @module
 */
import { CleanupStack, createNetns, type ScratchNetns } from "../lab/netns_kit.ts";
import { inNetnsArgv } from "../lab/command.ts";
import { applyStack, destroyStack, kernelStore, plan, renderPlan, showStack } from "../mod.ts";
import { portSharingStack } from "./port_sharing_stack.ts";
import { privateBpffsMount } from "../providers/state/bpffs.ts";
import { runMptcpAct } from "./demo_mptcp.ts";
import { type Program, programCommand, requireProgram } from "../providers/system/programs.ts";

const DEMO_PROGRAMS: readonly Program[] = ["ip", "ss", "tc", "iperf3", "mptcpize"];

const here = new URL(".", import.meta.url).pathname;
const color = Deno.stdout.isTerminal() && Deno.env.get("NO_COLOR") === undefined;
const say = (text: string) => console.log(color ? `\x1b[1m${text}\x1b[0m` : text);

async function startListener(
  ns: ScratchNetns,
  name: string,
  port: number,
): Promise<Deno.ChildProcess> {
  const argv = inNetnsArgv(ns.name, [
    Deno.execPath(),
    "run",
    "--allow-net",
    `${here}demo/echo_server.ts`,
    name,
    "127.0.0.1",
    String(port),
  ]);
  const child = programCommand(argv, {
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  await reader.read(); // "ready"
  reader.releaseLock();
  return child;
}

async function probe(
  ns: ScratchNetns,
  targets: string[],
): Promise<{ target: string; answer: string }[]> {
  const out = await ns.exec([
    Deno.execPath(),
    "run",
    "--allow-net",
    `${here}demo/probe.ts`,
    ...targets,
  ]);
  return out.trim().split("\n").map((l) => JSON.parse(l));
}

async function buildLab(cleanup: CleanupStack): Promise<ScratchNetns> {
  const ns = cleanup.track(await createNetns("sf-demo"), "delete demo netns");
  for (const prefix of ["192.0.2", "198.51.100", "203.0.113"]) {
    // A local route makes the whole /24 "ours", so sk_lookup sees connections to any address in it.
    await ns.exec(["ip", "route", "add", "local", `${prefix}.0/24`, "dev", "lo"]);
  }
  for (const [name, port] of [["blue", 8001], ["green", 8002]] as const) {
    const child = await startListener(ns, name, port);
    cleanup.defer(`stop ${name}`, async () => {
      child.kill("SIGKILL");
      await child.status;
    });
  }
  return ns;
}

async function sockLookupAct(ns: ScratchNetns, root: string): Promise<void> {
  const stack = portSharingStack(ns.path);
  const store = kernelStore(root);
  say("\n== 1. plan: what sockform would change (read from the live kernel)");
  console.log(renderPlan(await plan(stack, store), { color }));
  say("\n== 2. apply");
  const applied = await applyStack(stack, store);
  console.log(`applied ${applied.applied} step(s)`);
  say("\n== 3. real connections from inside the netns");
  const results = await probe(ns, [
    "192.0.2.10:80",
    "198.51.100.10:80",
    "203.0.113.77:12345",
    "203.0.113.5:22",
  ]);
  for (const r of results) {
    console.log(`  connect ${r.target.padEnd(20)} → answered by ${r.answer}`);
  }
  say("\n== 4. a second plan is a no-op");
  console.log(renderPlan(await plan(stack, store), { color }));
  say("\n== 5. show: per-destination counters from the BPF maps");
  for (const r of await showStack(stack, store)) console.log(JSON.stringify(r.details, null, 2));
  say("\n== 6. destroy");
  const destroyed = await destroyStack(stack, store);
  console.log(`removed ${destroyed.applied} resource(s)`);
}

/**
 * Runs the demo; returns the process exit code.
 *
 * @example
 * ```ts
 * Deno.exit(await runDemo());
 * ```
 */
export async function runDemo(): Promise<number> {
  // Both acts' tools, checked before anything is built: a missing one is named
  // with its Debian package at once, not found half-way through act 2.
  for (const program of DEMO_PROGRAMS) requireProgram(program);
  const cleanup = new CleanupStack();
  const onSignal = async () => {
    console.error("\ninterrupted: cleaning up the demo lab…");
    await cleanup.cleanup().catch((e) => console.error(String(e)));
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    say("sockform demo, act 1: SocketLookupRedirect in a throwaway network namespace");
    const bpffs = privateBpffsMount();
    cleanup.defer("unmount demo bpffs", () => bpffs.cleanup());
    const ns = await buildLab(cleanup);
    console.log(`netns ${ns.path}, state root ${bpffs.root} (a private bpffs)`);
    await sockLookupAct(ns, bpffs.root);
    say(
      "\n\nsockform demo, act 2: PathManager turns two 50 Mbit/s paths into one MPTCP connection",
    );
    await runMptcpAct(cleanup, bpffs.root);
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    await cleanup.cleanup();
  }
}
