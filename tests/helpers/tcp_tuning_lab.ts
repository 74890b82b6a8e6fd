/**
 * The TcpTuning kernel-test lab: a private cgroup v2, a private bpffs state
 * root, and a client and a server netns joined by a veth pair. Probe
 * processes (tests/helpers/tcp_tuning_probe.ts) run inside a netns, and
 * inside the cgroup when asked: the pid is written to `cgroup.procs` before
 * `ip netns exec`, whose private /sys would hide the cgroup tree.
 *
 *     client netns  veth0 10.77.0.1/24 ── veth0 10.77.0.2/24  server netns
 *                   veth0 fd77::1/64       veth0 fd77::2/64
 *     routes 10.88/16, 10.99/16, 10.66/16 via 10.77.0.2        lo 10.88.0.1, 10.99.0.1
 *     routes fd88::/64, fd99::/64 via fd77::2                  lo fd88::1, fd99::1
 *
 * 10.66.0.0/16 is silent: the server netns does not own it and does not
 * forward, so SYNs there are dropped without an answer.
 *
 * @module
 */
import type { StateStore } from "../../engine/store.ts";
import { kernelStore } from "../../providers/state/kernel_store.ts";
import { randomSuffix } from "../../lab/command.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { type ScratchNetns, TestResources } from "./netns.ts";
import type { SocketReport } from "./tcp_tuning_probe.ts";
import { programCommand } from "../../providers/system/programs.ts";

export type { SocketReport } from "./tcp_tuning_probe.ts";

const PROBE = new URL("./tcp_tuning_probe.ts", import.meta.url).pathname;
const REPO = new URL("../../", import.meta.url).pathname;

/** Addresses of the lab. */
export const TT = {
  client: "10.77.0.1",
  server: "10.77.0.2",
  /** On the server's lo; rules match 10.88.0.0/16. */
  matching: "10.88.0.1",
  /** On the server's lo; outside the rules' prefixes. */
  other: "10.99.0.1",
  /** Silent addresses (no answer): a tuned prefix and an untuned one. */
  silentTuned: "10.66.1.1",
  silentOther: "10.66.2.1",
  /** IPv6: on the server's lo, inside fd88::/64 and outside it. */
  matchingV6: "fd88::1",
  otherV6: "fd99::1",
} as const;

/** A running probe process whose JSON lines are collected as they arrive. */
export interface Probe<T = SocketReport> {
  lines: T[];
  /** Resolves when at least `n` lines have arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<T[]>;
  /** Closes stdin (a holding client lets go), waits up to 2 s, then kills. */
  stop(): Promise<void>;
}

/** Creates one private cgroup v2 directory; `remove()` kills what is left in it. */
export function privateCgroup(prefix = "sf-test"): { path: string; remove(): Promise<void> } {
  const path = `/sys/fs/cgroup/unified/${prefix}-${randomSuffix()}`;
  Deno.mkdirSync(path);
  return {
    path,
    async remove() {
      for (let i = 0; i < 50; i++) {
        const pids = Deno.readTextFileSync(`${path}/cgroup.procs`).split("\n").filter(Boolean);
        if (pids.length === 0) break;
        for (const pid of pids) {
          try {
            Deno.kill(Number(pid), "SIGKILL");
          } catch { /* gone */ }
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      Deno.removeSync(path);
    },
  };
}

/**
 * The argv that runs `argv` in the netns, and in `cgroup` first when given.
 *
 * @example Running a command in netns and cgroup
 * ```ts
 * probeArgv("sf-c-1a2b3c", "/sys/fs/cgroup/unified/sf-t", ["true"]);
 * ```
 */
export function probeArgv(netns: string, cgroup: string | null, argv: string[]): string[] {
  const inner = ["ip", "netns", "exec", netns, ...argv];
  if (!cgroup) return inner;
  return ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, ...inner];
}

/**
 * Starts the probe (`serve`, `connect`, `syn`) in a netns, inside `cgroup`
 * when given. The caller stops it.
 *
 * @example One connection from the cgroup
 * ```ts
 * const p = startProbe("sf-tt-c-1a2b3c", cgroup, "connect", { host: "10.88.0.1", port: 5201 });
 * const [report] = await p.waitFor(1);
 * await p.stop();
 * ```
 */
export function startProbe<T = SocketReport>(
  netns: string,
  cgroup: string | null,
  command: string,
  options: object,
): Probe<T> {
  const probe = [Deno.execPath(), "run", "-A", PROBE, command, JSON.stringify(options)];
  const child = programCommand(probeArgv(netns, cgroup, probe), {
    cwd: REPO,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: T[] = [];
  let failure: string | null = null;
  const stderr = new Response(child.stderr).text();
  const reading = (async () => {
    let rest = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const part of parts) if (part.trim()) lines.push(JSON.parse(part));
    }
    const status = await child.status;
    if (!status.success && status.signal === null) failure = `probe failed: ${await stderr}`;
  })();
  let stopped = false;
  return {
    lines,
    async waitFor(n, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      while (lines.length < n) {
        if (failure) throw new Error(failure);
        if (Date.now() > until) throw new Error(`probe gave ${lines.length}/${n} lines`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return lines;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await child.stdin.close().catch(() => {});
      const done = await Promise.race([
        child.status.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 2000)),
      ]);
      if (!done) child.kill("SIGKILL");
      await child.status;
      await reading.catch(() => {});
    },
  };
}

/** One test's lab. */
export interface TtLab {
  client: ScratchNetns;
  server: ScratchNetns;
  cgroup: string;
  store: StateStore;
  /** The state root on the private bpffs. */
  root: string;
  /** Runs a probe command in the client netns (in the cgroup when `inCgroup`). */
  clientProbe<T = SocketReport>(command: string, options: object, inCgroup: boolean): Probe<T>;
  /** Runs a probe command in the server netns (in the cgroup when `inCgroup`). */
  serverProbe<T = SocketReport>(command: string, options: object, inCgroup: boolean): Probe<T>;
  /** Connects `count` times from the client netns and returns each socket's report. */
  connect(host: string, port: number, inCgroup: boolean, count?: number): Promise<SocketReport[]>;
  /** Starts a server on [::]:port (IPv4 too); its first line ({ready}) has been read. */
  serve(port: number, inCgroup?: boolean): Promise<Probe<SocketReport | { ready: true }>>;
}

async function buildNetwork(res: TestResources): Promise<[ScratchNetns, ScratchNetns]> {
  const client = await res.netns("sf-tt-c");
  const server = await res.netns("sf-tt-s");
  await res.veth(
    { netns: client, name: "veth0", addresses: [`${TT.client}/24`, "fd77::1/64"] },
    { netns: server, name: "veth0", addresses: [`${TT.server}/24`, "fd77::2/64"] },
  );
  for (const addr of [TT.matching, TT.other, TT.matchingV6, TT.otherV6]) {
    await server.exec(["ip", "addr", "add", addr, "dev", "lo"]);
  }
  for (const net of ["10.88.0.0/16", "10.99.0.0/16", "10.66.0.0/16"]) {
    await client.exec(["ip", "route", "add", net, "via", TT.server]);
  }
  for (const net of ["fd88::/64", "fd99::/64"]) {
    await client.exec(["ip", "-6", "route", "add", net, "via", "fd77::2"]);
  }
  return [client, server];
}

/**
 * Builds the lab, runs `fn`, and removes everything (probes, cgroup, bpffs,
 * netns) even when `fn` throws.
 *
 * @example A test body
 * ```ts
 * await withTtLab(async (lab) => {
 *   const [sock] = await lab.connect(TT.matching, 5201, true);
 * });
 * ```
 */
export async function withTtLab(fn: (lab: TtLab) => Promise<void>): Promise<void> {
  await using res = new TestResources();
  const fs = privateBpffs();
  res.defer("unmount the private bpffs", () => fs.cleanup());
  const cgroup = privateCgroup("sf-test");
  res.defer(`remove cgroup ${cgroup.path}`, () => cgroup.remove());
  const [client, server] = await buildNetwork(res);
  const probe = <T>(ns: ScratchNetns, command: string, options: object, inCgroup: boolean) => {
    const p = startProbe<T>(ns.name, inCgroup ? cgroup.path : null, command, options);
    res.defer(`stop probe ${command}`, () => p.stop());
    return p;
  };
  const lab: TtLab = {
    client,
    server,
    cgroup: cgroup.path,
    store: kernelStore(fs.root),
    root: fs.root,
    clientProbe: (c, o, inCg) => probe(client, c, o, inCg),
    serverProbe: (c, o, inCg) => probe(server, c, o, inCg),
    async connect(host, port, inCgroup, count = 1) {
      const p = probe<SocketReport>(client, "connect", { host, port, count }, inCgroup);
      const lines = await p.waitFor(count);
      await p.stop();
      return lines;
    },
    async serve(port, inCgroup = false) {
      const p = probe<SocketReport | { ready: true }>(
        server,
        "serve",
        { host: "::", port },
        inCgroup,
      );
      await p.waitFor(1);
      return p;
    },
  };
  await fn(lab);
}
