/**
 * The two-path lab shared by the demo, the kernel tests and the benchmark:
 * a client and a server netns joined by two veth pairs, each path shaped to
 * the same rate with `tc ... tbf`, so one TCP connection can use one path's
 * rate and MPTCP over both paths about twice that.
 *
 *     client netns                          server netns
 *     veth-a 10.1.2.1/24  ── 50 Mbit/s ──  veth-a 10.1.2.2/24
 *     veth-b 10.1.3.1/24  ── 50 Mbit/s ──  veth-b 10.1.3.2/24
 *
 * The client routes by source address (a rule per address, a table per
 * path), as multihomed MPTCP clients are set up, so a subflow from 10.1.3.1
 * leaves through veth-b even towards the server's 10.1.2.2; the server
 * answers by destination, so each subflow stays on one path both ways. No
 * MPTCP endpoints are added: that is the PathManager's job.
 *
 * @module
 */
import { run } from "./command.ts";
import { CleanupStack, createNetns, createVethPair, type ScratchNetns } from "./netns_kit.ts";

/** One path of the lab. */
export interface LabPath {
  /** Interface name on both sides (`veth-a`, `veth-b`). */
  dev: string;
  subnet: string;
  clientAddress: string;
  serverAddress: string;
  /** The client's routing table for traffic sourced from this path's address. */
  table: number;
}

/** A built lab. `teardown()` removes all of it and may be called more than once. */
export interface TwoPathLab {
  client: ScratchNetns;
  server: ScratchNetns;
  paths: readonly [LabPath, LabPath];
  /** The shaped rate of each path, in Mbit/s. */
  rateMbit: number;
  teardown(): Promise<void>;
}

/** Knobs for `setupTwoPathLab`; the defaults give plain TCP ~49 Mbit/s per path. */
export interface TwoPathLabOptions {
  /** Netns name prefix; names are `<prefix>-c-<random>` and `<prefix>-s-<random>`. */
  prefix?: string;
  rateMbit?: number;
  /** tbf bucket size, e.g. `32kbit`. */
  burst?: string;
  /** tbf queue latency, e.g. `50ms`. */
  latency?: string;
  /** Remove the lab when the process gets SIGINT (Ctrl-C). Default true. */
  cleanupOnSigint?: boolean;
}

/** The two paths' addressing. */
export const LAB_PATHS: readonly [LabPath, LabPath] = [
  {
    dev: "veth-a",
    subnet: "10.1.2.0/24",
    clientAddress: "10.1.2.1",
    serverAddress: "10.1.2.2",
    table: 102,
  },
  {
    dev: "veth-b",
    subnet: "10.1.3.0/24",
    clientAddress: "10.1.3.1",
    serverAddress: "10.1.3.2",
    table: 103,
  },
];

async function shape(ns: ScratchNetns, dev: string, opts: Required<TwoPathLabOptions>) {
  const rate = `${opts.rateMbit}mbit`;
  await run([
    ...["ip", "netns", "exec", ns.name, "tc", "qdisc", "add", "dev", dev, "root", "tbf"],
    ...["rate", rate, "burst", opts.burst, "latency", opts.latency],
  ]);
}

async function routeBySource(ns: ScratchNetns, path: LabPath) {
  const ip = ["ip", "-n", ns.name];
  // An on-link default: the peer answers ARP for any of its addresses on either path.
  await run([...ip, "route", "add", "default", "dev", path.dev, "table", String(path.table)]);
  await run([...ip, "rule", "add", "from", path.clientAddress, "table", String(path.table)]);
}

async function buildPath(
  client: ScratchNetns,
  server: ScratchNetns,
  path: LabPath,
  opts: Required<TwoPathLabOptions>,
  stack: CleanupStack,
) {
  stack.track(
    await createVethPair(
      { netns: client, name: path.dev, addresses: [`${path.clientAddress}/24`] },
      { netns: server, name: path.dev, addresses: [`${path.serverAddress}/24`] },
    ),
    `veth ${path.dev}`,
  );
  await shape(client, path.dev, opts);
  await shape(server, path.dev, opts);
  await routeBySource(client, path);
}

function sigintCleanup(teardown: () => Promise<void>): () => void {
  const onSigint = () => {
    teardown().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSigint);
  return () => Deno.removeSignalListener("SIGINT", onSigint);
}

/**
 * Builds the lab. On any failure, whatever was built is removed before the
 * error is rethrown.
 *
 * @example Building, using and removing the lab
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function demo(): Promise<void> {
 *   const lab = await setupTwoPathLab({ prefix: "sf-demo" });
 *   try {
 *     console.log(lab.client.path, lab.paths[1].clientAddress);
 *   } finally {
 *     await lab.teardown();
 *   }
 * }
 * ```
 */
export async function setupTwoPathLab(options: TwoPathLabOptions = {}): Promise<TwoPathLab> {
  const opts: Required<TwoPathLabOptions> = {
    prefix: "sf-lab",
    rateMbit: 50,
    burst: "32kbit",
    latency: "50ms",
    cleanupOnSigint: true,
    ...options,
  };
  const stack = new CleanupStack();
  let done: Promise<void> | undefined;
  const teardown = () => (done ??= stack.cleanup());
  if (opts.cleanupOnSigint) stack.defer("SIGINT listener", sigintCleanup(teardown));
  try {
    const client = stack.track(await createNetns(`${opts.prefix}-c`), "client netns");
    const server = stack.track(await createNetns(`${opts.prefix}-s`), "server netns");
    for (const path of LAB_PATHS) await buildPath(client, server, path, opts, stack);
    return { client, server, paths: LAB_PATHS, rateMbit: opts.rateMbit, teardown };
  } catch (err) {
    await teardown();
    throw err;
  }
}
