/**
 * Traffic during a change: a client inside a netns connects at a steady rate
 * to a set of targets while `fn` (an apply, a destroy, …) runs, and counts
 * every connection that failed or was answered by a listener its binding does
 * not allow. Listeners answer with their own name (see `SlrLab.serve`), so a
 * reply names the socket that accepted the connection.
 *
 * Each target lists the replies it may get: during an update, a binding may
 * be answered by its old or its new destination, never by a third one, and
 * never refused. The client is bounded in count and in time.
 *
 * @module
 */
import { programCommand } from "../../providers/system/programs.ts";

/** One address the client connects to, and the listener names allowed to answer it. */
export interface TrafficTarget {
  host: string;
  port: number;
  /** Names of the listeners allowed to answer (e.g. old and new destination). */
  accept: string[];
  /** True when a failed connection is allowed too (a binding that comes or goes). */
  mayFail?: boolean;
}

/** How fast and how long the client runs. */
export interface TrafficOptions {
  /** Connections per second over all targets (default 250). */
  rate?: number;
  /** Stop after this many connections (default 20,000). */
  maxConnections?: number;
  /** Stop after this many seconds (default 30). */
  maxSeconds?: number;
  /** Connections made before `fn` starts and after it ends (default 20 each). */
  margin?: number;
  /** Seconds one connection may take before it counts as failed (default 2). */
  timeout?: number;
}

/** What one target received, reply text → count (`ERR:<Exception>` for failures). */
export interface TargetCounts {
  target: string;
  replies: Record<string, number>;
  failed: number;
  misrouted: number;
}

/** The client's tally. */
export interface TrafficCounts {
  total: number;
  failed: number;
  misrouted: number;
  /** Seconds the client ran. */
  seconds: number;
  perTarget: TargetCounts[];
}

const CLIENT = `
import json, select, socket, struct, sys, time
targets, rate, max_n, max_s, margin, timeout = json.loads(sys.argv[1])
replies = [dict() for _ in targets]
RST = struct.pack("ii", 1, 0)
def one(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
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
n = 0
after = None
stdin_open = True
while n < max_n and time.monotonic() - start < max_s:
    if after is not None and n >= after:
        break
    t = targets[n % len(targets)]
    r = one(t[0], t[1])
    replies[n % len(targets)][r] = replies[n % len(targets)].get(r, 0) + 1
    n += 1
    if n == margin:
        print("flowing", flush=True)
    wait = start + n / rate - time.monotonic()
    if stdin_open and after is None:
        ready, _, _ = select.select([sys.stdin], [], [], max(wait, 0))
        if ready and not sys.stdin.readline():
            stdin_open = False
            after = n + margin
    elif wait > 0:
        time.sleep(wait)
print(json.dumps({"replies": replies, "seconds": time.monotonic() - start}), flush=True)
`;

function tally(targets: TrafficTarget[], out: { replies: Record<string, number>[] }) {
  return targets.map((t, i): TargetCounts => {
    const replies = out.replies[i];
    let failed = 0;
    let misrouted = 0;
    for (const [reply, count] of Object.entries(replies)) {
      if (reply.startsWith("ERR:")) failed += t.mayFail ? 0 : count;
      else if (!t.accept.includes(reply)) misrouted += count;
    }
    return { target: `${t.host}:${t.port}`, replies, failed, misrouted };
  });
}

/** Reads lines from the client's stdout. */
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

/**
 * Runs `fn` while a client in `netns` (a name under /run/netns) connects to
 * `targets` round-robin at a steady rate; returns `fn`'s result and the counts.
 * The client makes `margin` connections before `fn` starts and `margin` after
 * it ends; it stops early at `maxConnections` or `maxSeconds`.
 *
 * @example Counting misroutes during an apply
 * ```ts
 * const { counts } = await duringTraffic(lab.name, [
 *   { host: "192.0.2.10", port: 80, accept: ["A"] },
 * ], () => applyStack(stack, store));
 * assertNoHits(counts, "the hitless update");
 * ```
 */
export async function duringTraffic<T>(
  netns: string,
  targets: TrafficTarget[],
  fn: () => Promise<T>,
  opts: TrafficOptions = {},
): Promise<{ result: T; counts: TrafficCounts }> {
  const client = spawnClient(netns, targets, opts);
  let result: T;
  try {
    const first = await client.readLine();
    if (first !== "flowing") throw new Error(`traffic client: ${first ?? await client.stderr}`);
    result = await fn();
  } catch (e) {
    try {
      client.child.kill("SIGKILL");
    } catch { /* exited */ }
    await client.child.status;
    throw e;
  } finally {
    await client.stdin.close().catch(() => {});
  }
  const last = await client.readLine();
  await client.child.status;
  if (last === null) throw new Error(`traffic client died: ${await client.stderr}`);
  return { result, counts: totals(targets, JSON.parse(last)) };
}

/** Starts the client; it connects until its stdin closes (plus `margin`) or a bound is hit. */
function spawnClient(netns: string, targets: TrafficTarget[], opts: TrafficOptions) {
  const args = [
    targets.map((t) => [t.host, t.port]),
    opts.rate ?? 250,
    opts.maxConnections ?? 20_000,
    opts.maxSeconds ?? 30,
    opts.margin ?? 20,
    opts.timeout ?? 2,
  ];
  const argv = ["ip", "netns", "exec", netns, "python3", "-u", "-c", CLIENT, JSON.stringify(args)];
  const child = programCommand(argv, { stdin: "piped", stdout: "piped", stderr: "piped" }).spawn();
  return {
    child,
    stdin: child.stdin.getWriter(),
    readLine: lineReader(child.stdout),
    stderr: new Response(child.stderr).text(),
  };
}

function totals(
  targets: TrafficTarget[],
  out: { replies: Record<string, number>[]; seconds: number },
): TrafficCounts {
  const perTarget = tally(targets, out);
  const sum = (f: (t: TargetCounts) => number) => perTarget.reduce((a, t) => a + f(t), 0);
  return {
    total: sum((t) => Object.values(t.replies).reduce((a, b) => a + b, 0)),
    failed: sum((t) => t.failed),
    misrouted: sum((t) => t.misrouted),
    seconds: out.seconds,
    perTarget,
  };
}

/**
 * One line per target: `192.0.2.10:80 {"A":120}`.
 *
 * @example Printing what a run saw
 * ```ts
 * console.log(describeCounts(counts));
 * ```
 */
export function describeCounts(c: TrafficCounts): string {
  return c.perTarget.map((t) => `${t.target} ${JSON.stringify(t.replies)}`).join("; ");
}

/**
 * Throws unless every connection was answered by an allowed listener.
 *
 * @example After a hitless apply
 * ```ts
 * assertNoHits(counts, "binding edit");
 * ```
 */
export function assertNoHits(c: TrafficCounts, what: string): void {
  if (c.total === 0) throw new Error(`${what}: no connection was made`);
  if (c.failed || c.misrouted) {
    throw new Error(
      `${what}: ${c.failed} failed and ${c.misrouted} misrouted of ${c.total} ` +
        `connection(s): ${describeCounts(c)}`,
    );
  }
}
