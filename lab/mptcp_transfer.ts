/**
 * Short iperf3 transfers between two netns, as plain TCP or as MPTCP (through
 * `mptcpize run` (Debian package mptcpize), which makes an unmodified program open
 * IPPROTO_MPTCP sockets), with the client's subflows sampled while it runs.
 *
 * @module
 */
import { CommandError, inNetnsArgv, run } from "./command.ts";
import { groupByConnection, listSubflows, type SubflowStat } from "./subflows.ts";
import { programCommand } from "../providers/system/programs.ts";

/** What to transfer, between which namespaces (by name). */
export interface TransferOptions {
  client: { name: string };
  server: { name: string };
  /** The address the client connects to. */
  serverAddress: string;
  /** Source address for the client's first connection (iperf3 `-B`). */
  bindAddress?: string;
  /** Run both ends under `mptcpize run`. */
  mptcp: boolean;
  /** Transfer length in seconds (default 3). */
  seconds?: number;
  /** Send exactly this many bytes instead of sending for `seconds` (iperf3 `-n`). */
  bytes?: number;
  /** TCP port (default 5201). */
  port?: number;
  /** The client's source port for the data connection (iperf3 `--cport`), so a 4-tuple is known ahead. */
  clientPort?: number;
  /** How often to sample the client's subflows, in ms (default 250; 0 disables). */
  sampleEveryMs?: number;
  /** A cgroup v2 directory to run the client in (e.g. one a TcpTuning tunes). */
  clientCgroup?: string;
  /** The client's congestion control (iperf3 `-C`, TCP_CONGESTION on its socket), instead of the netns default. */
  congestion?: string;
}

/** One sample of the client's subflows, `atMs` after the client started. */
export interface SubflowSample {
  atMs: number;
  subflows: SubflowStat[];
}

/** The outcome of one transfer. */
export interface TransferResult {
  mptcp: boolean;
  /** Goodput as the receiver counted it, in Mbit/s. */
  goodputMbit: number;
  /** Rate the sender wrote into its socket, in Mbit/s (includes queued data). */
  senderMbit: number;
  bytesReceived: number;
  /** Bytes the sender wrote into its socket (some may reach the wire after the test ends). */
  bytesSent: number;
  seconds: number;
  /** The busiest MPTCP connection's subflows at the last sample (empty for TCP). */
  dataSubflows: SubflowStat[];
  samples: SubflowSample[];
}

interface IperfJson {
  error?: string;
  end?: {
    sum_sent?: { bits_per_second: number; bytes?: number };
    sum_received?: { bits_per_second: number; bytes: number; seconds: number };
  };
}

function wrap(mptcp: boolean, argv: string[]): string[] {
  return mptcp ? ["mptcpize", "run", ...argv] : argv;
}

async function waitForListener(netnsName: string, port: number): Promise<void> {
  const query = ["ss", "-Hltn", `sport = :${port}`];
  for (let attempt = 0; attempt < 50; attempt++) {
    if ((await run(inNetnsArgv(netnsName, query))).trim()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`iperf3 server in ${netnsName} did not listen on port ${port}`);
}

/**
 * Starts a one-shot iperf3 server (`-s -1`) in a netns and waits until it
 * listens. `stop()` kills it if still running.
 *
 * @example An MPTCP server in the lab
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { TwoPathLab } from "./two_path_lab.ts";
 *
 * async function serve(lab: TwoPathLab): Promise<void> {
 *   const server = await startIperfServer(lab.server, { mptcp: true });
 *   await server.stop();
 * }
 * ```
 */
export async function startIperfServer(
  netns: { name: string },
  opts: { mptcp: boolean; port?: number },
): Promise<{ stop(): Promise<void> }> {
  const port = opts.port ?? 5201;
  const argv = inNetnsArgv(netns.name, wrap(opts.mptcp, ["iperf3", "-s", "-1", "-p", `${port}`]));
  const child = programCommand(argv, {
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited after its one test.
    }
    await child.status;
  };
  try {
    await waitForListener(netns.name, port);
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}

async function sampleUntil(
  netnsName: string,
  everyMs: number,
  done: Promise<unknown>,
): Promise<SubflowSample[]> {
  const samples: SubflowSample[] = [];
  if (everyMs <= 0) return samples;
  const start = performance.now();
  let finished = false;
  const finish = () => (finished = true);
  done.then(finish, finish);
  while (!finished) {
    const subflows = await listSubflows(netnsName);
    if (!finished && subflows.length) {
      samples.push({ atMs: Math.round(performance.now() - start), subflows });
    }
    await Promise.race([new Promise((r) => setTimeout(r, everyMs)), done.catch(() => {})]);
  }
  return samples;
}

function parseIperf(text: string, argv: string[]): Required<IperfJson>["end"] {
  const json = JSON.parse(text) as IperfJson;
  if (json.error || !json.end?.sum_received) {
    throw new Error(`${argv.join(" ")}: ${json.error ?? "no summary in iperf3 output"}`);
  }
  return json.end;
}

/**
 * Runs one iperf3 transfer client → server and reports goodput, and for
 * MPTCP the data connection's subflows. Keep `seconds` short (2–3 s).
 *
 * @example TCP over path A, then MPTCP
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { TwoPathLab } from "./two_path_lab.ts";
 *
 * async function compare(lab: TwoPathLab): Promise<void> {
 *   const base = { client: lab.client, server: lab.server, serverAddress: "10.1.2.2" };
 *   const tcp = await runTransfer({ ...base, mptcp: false });
 *   const mp = await runTransfer({ ...base, mptcp: true });
 *   console.log(tcp.goodputMbit, mp.goodputMbit, mp.dataSubflows.length);
 * }
 * ```
 */
export async function runTransfer(opts: TransferOptions): Promise<TransferResult> {
  const port = opts.port ?? 5201;
  const seconds = opts.seconds ?? 3;
  const server = await startIperfServer(opts.server, { mptcp: opts.mptcp, port });
  try {
    const bind = opts.bindAddress ? ["-B", opts.bindAddress] : [];
    if (opts.clientPort) bind.push("--cport", `${opts.clientPort}`);
    const length = opts.bytes ? ["-n", `${opts.bytes}`] : ["-t", `${seconds}`];
    if (opts.congestion) length.push("-C", opts.congestion);
    const iperf = ["iperf3", "-c", opts.serverAddress, "-p", `${port}`, ...length, "-J"];
    const inNetns = inNetnsArgv(opts.client.name, wrap(opts.mptcp, [...iperf, ...bind]));
    // Joins the cgroup before `ip netns exec` remounts /sys (which hides the cgroup tree).
    const argv = opts.clientCgroup
      ? ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', opts.clientCgroup, ...inNetns]
      : inNetns;
    const client = run(argv).catch((err) => {
      // iperf3 -J prints its error as JSON on stdout, which CommandError lacks.
      throw err instanceof CommandError ? new Error(`iperf3 client failed: ${err.message}`) : err;
    });
    const samples = await sampleUntil(opts.client.name, opts.sampleEveryMs ?? 250, client)
      .catch(async (err) => {
        await client.catch(() => {});
        throw err;
      });
    const end = parseIperf(await client, argv);
    const [data] = groupByConnection(samples.at(-1)?.subflows ?? []);
    return {
      mptcp: opts.mptcp,
      goodputMbit: end.sum_received!.bits_per_second / 1e6,
      senderMbit: (end.sum_sent?.bits_per_second ?? 0) / 1e6,
      bytesReceived: end.sum_received!.bytes,
      bytesSent: end.sum_sent?.bytes ?? 0,
      seconds: end.sum_received!.seconds,
      dataSubflows: data?.subflows ?? [],
      samples,
    };
  } finally {
    await server.stop();
  }
}
