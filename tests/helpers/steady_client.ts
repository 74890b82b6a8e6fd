/**
 * A steady client for "traffic during every change": a python3 process,
 * started wherever `runIn` puts it (a netns, a netns and a cgroup), connects
 * round-robin to targets at a steady rate while `fn` (applies, a destroy, …)
 * runs, and tallies per phase what each connection got: the reply (listeners
 * answer with their own name), a failure, and the congestion control the
 * kernel gave the socket (TCP_CONGESTION, read with getsockopt).
 *
 * Phases: `before` (the first `margin` connections and any until `fn`
 * starts), `during` (started while `fn` ran) and `after` (`margin`
 * connections started after `fn` returned). The client is bounded in count and
 * in time. The target shape matches tests/helpers/traffic.ts so the two can
 * merge.
 *
 * @module
 */
import { programCommand } from "../../providers/system/programs.ts";

/** One address the client connects to, and the listener names allowed to answer it. */
export interface SteadyTarget {
  host: string;
  port: number;
  /** Names of the listeners allowed to answer. */
  accept: string[];
  /** True when a failed connection is allowed too. */
  mayFail?: boolean;
}

/** How fast and how long the client runs. */
export interface SteadyOptions {
  /** Connections per second over all targets (default 250). */
  rate?: number;
  /** Stop after this many connections (default 20,000). */
  maxConnections?: number;
  /** Stop after this many seconds (default 60). */
  maxSeconds?: number;
  /** Connections made before `fn` starts and after it ends (default 40 each). */
  margin?: number;
  /** Seconds one connection may take before it counts as failed (default 2). */
  timeout?: number;
}

/** What the connections started in one phase got. */
export interface PhaseCounts {
  total: number;
  failed: number;
  misrouted: number;
  /** Reply text → count (`ERR:<Exception>` for failures). */
  replies: Record<string, number>;
  /** Congestion control of each connected socket → count. */
  congestion: Record<string, number>;
}

/** The tally of one run. */
export interface SteadyCounts {
  before: PhaseCounts;
  during: PhaseCounts;
  after: PhaseCounts;
  /** Seconds the client ran and connections per second it reached. */
  seconds: number;
  rate: number;
}

const CLIENT = `
import json, select, socket, struct, sys, time
targets, rate, max_n, max_s, margin, timeout = json.loads(sys.argv[1])
phases = {p: {"replies": {}, "congestion": {}} for p in ("before", "during", "after")}
RST = struct.pack("ii", 1, 0)
def one(host, port, tally):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        cc = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).split(b"\\0")[0].decode()
        tally["congestion"][cc] = tally["congestion"].get(cc, 0) + 1
        data = b""
        while True:
            chunk = s.recv(64)
            if not chunk:
                break
            data += chunk
        return data.decode() or "ERR:empty"
    except Exception as e:
        return "ERR:" + type(e).__name__
    finally:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
        s.close()
start = time.monotonic()
n, phase, stop_at, stdin_open = 0, "before", None, True
while n < max_n and time.monotonic() - start < max_s and (stop_at is None or n < stop_at):
    t = targets[n % len(targets)]
    tally = phases[phase]
    r = one(t[0], t[1], tally)
    tally["replies"][r] = tally["replies"].get(r, 0) + 1
    n += 1
    if n == margin:
        print("flowing", flush=True)
    wait = max(start + n / rate - time.monotonic(), 0)
    if stdin_open:
        ready, _, _ = select.select([sys.stdin], [], [], wait)
        if ready:
            line = sys.stdin.readline()
            if line.strip() == "during":
                phase = "during"
            elif not line:
                stdin_open, phase, stop_at = False, "after", n + margin
    elif wait > 0:
        time.sleep(wait)
print(json.dumps({"phases": phases, "n": n, "seconds": time.monotonic() - start}), flush=True)
`;

/** Reads lines from a child's stdout. */
function lineReader(stream: ReadableStream<Uint8Array>) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  return async (): Promise<string | null> => {
    while (!buffered.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) return null;
      buffered += value;
    }
    const i = buffered.indexOf("\n");
    const line = buffered.slice(0, i);
    buffered = buffered.slice(i + 1);
    return line;
  };
}

type RawPhase = { replies: Record<string, number>; congestion: Record<string, number> };

function phaseCounts(targets: SteadyTarget[], raw: RawPhase): PhaseCounts {
  const allowed = new Set(targets.flatMap((t) => t.accept));
  const mayFail = targets.some((t) => t.mayFail);
  const c: PhaseCounts = { total: 0, failed: 0, misrouted: 0, ...raw };
  for (const [reply, count] of Object.entries(raw.replies)) {
    c.total += count;
    if (reply.startsWith("ERR:")) c.failed += mayFail ? 0 : count;
    else if (!allowed.has(reply)) c.misrouted += count;
  }
  return c;
}

function argsFor(targets: SteadyTarget[], o: SteadyOptions): string {
  return JSON.stringify([
    targets.map((t) => [t.host, t.port]),
    o.rate ?? 250,
    o.maxConnections ?? 20_000,
    o.maxSeconds ?? 60,
    o.margin ?? 40,
    o.timeout ?? 2,
  ]);
}

/**
 * Runs `fn` while a client started by `runIn(argv)` connects to `targets` at a
 * steady rate; returns `fn`'s result and the counts per phase. A target's
 * misroute check uses the names every target accepts (one service per run).
 *
 * @example Connections from a cgroup in a netns during an apply
 * ```ts
 * const { counts } = await steadyTraffic(
 *   (argv) => probeArgv(lab.client.name, lab.cgroup, argv),
 *   [{ host: "10.88.0.1", port: 5201, accept: ["srv"] }],
 *   () => applyStack(stack, lab.store),
 * );
 * assertSteady(counts, "rule edit");
 * ```
 */
export async function steadyTraffic<T>(
  runIn: (argv: string[]) => string[],
  targets: SteadyTarget[],
  fn: () => Promise<T>,
  opts: SteadyOptions = {},
): Promise<{ result: T; counts: SteadyCounts }> {
  const argv = runIn(["python3", "-u", "-c", CLIENT, argsFor(targets, opts)]);
  const child = programCommand(argv, { stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const stdin = child.stdin.getWriter();
  const readLine = lineReader(child.stdout);
  const stderr = new Response(child.stderr).text();
  let result: T;
  try {
    const first = await readLine();
    if (first !== "flowing") throw new Error(`steady client: ${first ?? await stderr}`);
    await stdin.write(new TextEncoder().encode("during\n"));
    result = await fn();
  } catch (e) {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
    throw e;
  } finally {
    await stdin.close().catch(() => {});
  }
  const last = await readLine();
  await child.status;
  while ((await readLine()) !== null) { /* drain until the pipe closes */ }
  if (last === null) throw new Error(`steady client died: ${await stderr}`);
  const out = JSON.parse(last) as { phases: Record<string, RawPhase>; n: number; seconds: number };
  const phase = (p: string) => phaseCounts(targets, out.phases[p]);
  return {
    result,
    counts: {
      before: phase("before"),
      during: phase("during"),
      after: phase("after"),
      seconds: out.seconds,
      rate: out.n / out.seconds,
    },
  };
}

/**
 * Throws unless connections were made in every phase and none failed or was
 * misrouted.
 *
 * @example
 * ```ts
 * assertSteady(counts, "program swap");
 * ```
 */
export function assertSteady(c: SteadyCounts, what: string): void {
  for (const p of ["before", "during", "after"] as const) {
    const n = c[p];
    if (n.total === 0) throw new Error(`${what}: no connection was made ${p} the change`);
    if (n.failed || n.misrouted) {
      throw new Error(
        `${what}: ${p} the change ${n.failed} failed and ${n.misrouted} misrouted of ` +
          `${n.total} connection(s): ${JSON.stringify(n.replies)}`,
      );
    }
  }
}

/**
 * Starts a listener on host:port, run by `runIn`, that answers every
 * connection with `reply` and closes. Resolves once it listens.
 *
 * @example A server in the lab's server netns
 * ```ts
 * const srv = await replyServer((argv) => ["ip", "netns", "exec", ns, ...argv], "::", 5201, "srv");
 * try { ... } finally { await srv.stop(); }
 * ```
 */
export async function replyServer(
  runIn: (argv: string[]) => string[],
  host: string,
  port: number,
  reply: string,
): Promise<{ stop(): Promise<void> }> {
  const argv = runIn(["python3", "-u", "-c", SERVER, host, String(port), reply]);
  const child = programCommand(argv, { stdin: "null", stdout: "piped", stderr: "piped" }).spawn();
  const readLine = lineReader(child.stdout);
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
    await child.stderr.cancel().catch(() => {});
    while ((await readLine()) !== null) { /* drain until the pipe closes */ }
  };
  if ((await readLine()) !== "listening") {
    await stop();
    throw new Error(`reply server on ${host}:${port} did not start`);
  }
  return { stop };
}

const SERVER = `
import socket, sys
host, port, reply = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen(1024)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(reply)
    c.close()
`;
