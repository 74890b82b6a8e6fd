/**
 * The throwaway lab both SocketLookupRedirect benchmarks run in: a fresh
 * netns with 10.0.0.0/16 on `lo`, a private bpffs for the state root, and the
 * Python worker that owns the listener (and is the connection-rate client).
 * Everything is registered on the benchmark's cleanup stack as it is made.
 *
 * @module
 */
import { type CleanupStack, createNetns, type ScratchNetns } from "../lab/netns_kit.ts";
import { inNetnsArgv, run } from "../lab/command.ts";
import { privateBpffs } from "../lab/bpffs.ts";
import type { BenchContext } from "./harness.ts";
import { BENCH_PORT, BENCH_SUBNET, listenerAddress } from "./slr_stack.ts";
import { programCommand } from "../providers/system/programs.ts";

/** Seconds one batch of connections took. */
export interface ConnTiming {
  wall: number;
  /** The worker's CPU time (user + system): time preempted by other load is not in it. */
  cpu: number;
}

/** A line-oriented conversation with the worker process. */
export interface ConnWorker {
  /** Runs `k` connect+accept+close cycles to host:port. */
  connections(k: number, host: string, port: number): Promise<ConnTiming>;
}

/** The lab: where things are and how to run the CLI against them. */
export interface SlrLab {
  netns: ScratchNetns;
  /** The private bpffs mount (scratch maps for the bpftool baselines go here). */
  mount: string;
  /** The sockform state root inside `mount`. */
  root: string;
  /** Bindings in the benchmark stack. */
  count: number;
  worker: ConnWorker;
  /** Env for CLI runs of `bench/stacks/slr_bindings.ts`. */
  env: Record<string, string>;
  /** `deno run -A main.ts <args> --state-root <root>`. */
  cli(args: readonly string[]): string[];
}

const WORKER_REPLY_TIMEOUT_MS = 60_000;

/** Reads stdout line by line; a line that does not come in time is an error. */
function lineReader(stream: ReadableStream<Uint8Array>) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  return async (timeoutMs: number): Promise<string> => {
    while (!buffered.includes("\n")) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("worker did not answer in time")), timeoutMs);
      });
      const chunk = await Promise.race([reader.read(), timeout]).finally(() => clearTimeout(timer));
      if (chunk.done) throw new Error("worker exited (see its stderr above)");
      buffered += chunk.value;
    }
    const end = buffered.indexOf("\n");
    const line = buffered.slice(0, end);
    buffered = buffered.slice(end + 1);
    return line;
  };
}

async function startWorker(
  netns: ScratchNetns,
  host: string,
  cleanup: CleanupStack,
): Promise<ConnWorker> {
  const script = new URL("./slr_conn_client.py", import.meta.url).pathname;
  const argv = inNetnsArgv(netns.name, ["python3", script, host, `${BENCH_PORT}`]);
  const child = programCommand(argv, {
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  })
    .spawn();
  cleanup.defer("stop the connection worker", async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.status;
  });
  const readLine = lineReader(child.stdout);
  const writer = child.stdin.getWriter();
  const ready = await readLine(10_000);
  if (ready !== "ready") throw new Error(`worker said "${ready}" instead of "ready"`);
  return {
    async connections(k, targetHost, port) {
      await writer.write(new TextEncoder().encode(`run ${k} ${targetHost} ${port}\n`));
      const [wall, cpu] = (await readLine(WORKER_REPLY_TIMEOUT_MS)).split(" ").map(Number);
      return { wall, cpu };
    },
  };
}

/**
 * Builds the lab for a stack of `count` bindings; the caller's cleanup stack
 * tears it down.
 *
 * @example
 * ```ts
 * const lab = await createSlrLab(ctx, 10_000);
 * await timeExpecting(0, lab.cli(["apply", "-s", "bench/stacks/slr_bindings.ts", "--auto-approve"]));
 * ```
 */
export async function createSlrLab(ctx: BenchContext, count: number): Promise<SlrLab> {
  const fs = privateBpffs();
  ctx.cleanup.defer("unmount the private bpffs", () => fs.cleanup());
  const netns = ctx.cleanup.track(await createNetns("sf-bench"), "delete the lab netns");
  const [base, bits] = BENCH_SUBNET.split("/");
  const first = base.replace(/\.0$/, ".1");
  // A /16 on lo makes every address in it local (one route), without 10,000 addresses.
  await run(["ip", "-n", netns.name, "addr", "add", `${first}/${bits}`, "dev", "lo"]);
  const worker = await startWorker(netns, listenerAddress(count), ctx.cleanup);
  return {
    netns,
    mount: fs.mount,
    root: fs.root,
    count,
    worker,
    env: { SF_BENCH_NETNS: netns.path, SF_BENCH_BINDINGS: `${count}`, NO_COLOR: "1" },
    cli: (args) => [Deno.execPath(), "run", "-A", "main.ts", ...args, "--state-root", fs.root],
  };
}
