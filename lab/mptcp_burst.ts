/**
 * MPTCP traffic for the agent tests and benchmarks: a python3 server that holds every
 * accepted connection until its client closes it, a python3 burst client that
 * opens N connections back to back (each sends one byte, so the MPTCP
 * handshake completes and ESTABLISHED is sent) and keeps every k-th one open until told
 * to let go, a userspace-PM switch for a netns, and the tokens `ss -M`
 * prints. Every process is bounded in time and killed by its `stop()`.
 *
 * @module
 */
import { inNetnsArgv, run } from "./command.ts";
import type { ScratchNetns } from "./netns_kit.ts";
import { programCommand } from "../providers/system/programs.ts";
import { hasSysctl, readSysctl, writeSysctl } from "../providers/system/sysctl.ts";

const HOLDING_SERVER = `
import resource, selectors, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
v6 = ":" in sys.argv[1]
srv = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM, 262)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if v6:
    srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(4096)
sel = selectors.DefaultSelector()
sel.register(srv, selectors.EVENT_READ)
print("listening", flush=True)
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    for key, _ in sel.select(0.5):
        if key.fileobj is srv:
            conn, _ = srv.accept()
            sel.register(conn, selectors.EVENT_READ)
        else:
            try:
                data = key.fileobj.recv(64)
            except OSError:
                data = b""
            if not data:
                sel.unregister(key.fileobj)
                key.fileobj.close()
`;

const BURST_CLIENT = `
import json, resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
addr, port, count, keep_every, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
kept, made, failed = [], 0, 0
end = time.monotonic() + limit
for i in range(count):
    if time.monotonic() > end:
        break
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM, 262)
    s.settimeout(3)
    try:
        s.connect((addr, port))
        s.sendall(b"x")
        made += 1
    except OSError:
        failed += 1
        s.close()
        continue
    if i % keep_every == 0:
        kept.append(s)
    else:
        s.close()
print(json.dumps({"made": made, "failed": failed, "keptPorts": [s.getsockname()[1] for s in kept]}), flush=True)
sys.stdin.read()
for s in kept:
    s.close()
`;

/** What a burst did. */
export interface BurstSummary {
  made: number;
  failed: number;
  /** Local ports of the connections kept open. */
  keptPorts: number[];
}

/** A running python3 helper. */
export interface Running {
  stop(): Promise<void>;
}

async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return text.split("\n")[0];
}

function spawnPython(ns: ScratchNetns, script: string, args: string[]) {
  const argv = inNetnsArgv(ns.name, ["python3", "-c", script, ...args]);
  const child = programCommand(argv, { stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const stderr = new Response(child.stderr).text();
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
    await stderr.catch(() => "");
    await child.stdout.cancel().catch(() => {});
  };
  return { child, stderr, stop };
}

/**
 * Starts the holding server (for at most `seconds`) and waits until it
 * listens; an IPv6 address (e.g. `::`) listens dual-stack.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ScratchNetns } from "./netns_kit.ts";
 *
 * async function hold(peer: ScratchNetns) {
 *   return await startHoldingServer(peer, "10.9.0.2", 7100, 60);
 * }
 * ```
 */
export async function startHoldingServer(
  ns: ScratchNetns,
  address: string,
  port: number,
  seconds: number,
): Promise<Running> {
  const p = spawnPython(ns, HOLDING_SERVER, [address, String(port), String(seconds)]);
  if (await firstLine(p.child.stdout) === "listening") return { stop: p.stop };
  await p.stop();
  throw new Error(`holding server did not start: ${await p.stderr}`);
}

/**
 * Opens `count` MPTCP connections back to back (within `seconds`), keeping
 * every `keepEvery`-th open; resolves when the burst is over. `stop()`
 * closes the kept ones and ends the client.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ScratchNetns } from "./netns_kit.ts";
 *
 * async function burst(client: ScratchNetns) {
 *   return await runBurst(client, "10.9.0.2", 7100, { count: 1000, keepEvery: 10, seconds: 20 });
 * }
 * ```
 */
export async function runBurst(
  ns: ScratchNetns,
  address: string,
  port: number,
  bounds: { count: number; keepEvery: number; seconds: number },
): Promise<BurstSummary & Running> {
  const args = [address, port, bounds.count, bounds.keepEvery, bounds.seconds].map(String);
  const p = spawnPython(ns, BURST_CLIENT, args);
  const line = await firstLine(p.child.stdout);
  try {
    return { ...JSON.parse(line) as BurstSummary, stop: p.stop };
  } catch {
    await p.stop();
    throw new Error(`burst client failed: ${await p.stderr}`);
  }
}

/**
 * Puts a netns's MPTCP path manager in userspace mode: `path_manager` on
 * Linux ≥ 6.15, `pm_type=1` before (the same knobs PathManager sets).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ScratchNetns } from "./netns_kit.ts";
 *
 * function userspace(client: ScratchNetns): void {
 *   setUserspacePm(client.path);
 * }
 * ```
 */
export function setUserspacePm(netns: string): void {
  writeSysctl("net.mptcp.enabled", 1, netns);
  if (hasSysctl("net.mptcp.path_manager", netns)) {
    writeSysctl("net.mptcp.path_manager", "userspace", netns);
  } else writeSysctl("net.mptcp.pm_type", 1, netns);
  if (readSysctl("net.mptcp.pm_type", netns) !== "1") {
    throw new Error(`${netns}: userspace path manager not in effect`);
  }
}

/**
 * Puts a netns's MPTCP path manager back in kernel mode (the default).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ScratchNetns } from "./netns_kit.ts";
 *
 * function inKernel(client: ScratchNetns): void {
 *   setKernelPm(client.path);
 * }
 * ```
 */
export function setKernelPm(netns: string): void {
  if (hasSysctl("net.mptcp.path_manager", netns)) {
    writeSysctl("net.mptcp.path_manager", "kernel", netns);
  } else writeSysctl("net.mptcp.pm_type", 0, netns);
}

/**
 * The tokens `ss -MniH` prints in a netns (hex), listeners excluded.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ScratchNetns } from "./netns_kit.ts";
 *
 * async function tokens(client: ScratchNetns): Promise<string[]> {
 *   return await ssMptcpTokens(client.name);
 * }
 * ```
 */
export async function ssMptcpTokens(netnsName: string): Promise<string[]> {
  const text = await run(inNetnsArgv(netnsName, ["ss", "-MniH"]));
  return [...text.matchAll(/\btoken:([0-9a-f]+)/g)].map((m) => m[1]);
}
