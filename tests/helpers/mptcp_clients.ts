/**
 * Small python3 programs that keep making MPTCP connections or sockets while
 * a test applies a change, so the test counts every failure the change caused.
 *
 * Each program runs until the test creates a "done" marker file, then makes a
 * fixed number more and stops; a hard cap bounds it either way. It prints
 * `ready` once warmed up (the test starts its apply then) and one JSON summary
 * line at the end. Work done between `ready` and the marker is counted as
 * `during`, so a test can prove that the change really overlapped traffic.
 *
 * @module
 */
import { inNetnsArgv } from "../../lab/command.ts";
import { programCommand } from "../../providers/system/programs.ts";

// The server answers each connection with one line: "M" when its accepted
// socket is MPTCP (MPTCP_INFO answers), "T" when the connection fell back to TCP.
const ECHO_SERVER = `
import socket, sys
addr, port = sys.argv[1], int(sys.argv[2])
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((addr, port))
srv.listen(512)
print("listening", flush=True)
while True:
    conn, _ = srv.accept()
    conn.settimeout(3)
    try:
        try:
            conn.getsockopt(284, 1, 256)
            kind = b"M\\n"
        except OSError:
            kind = b"T\\n"
        conn.recv(16)
        conn.sendall(kind)
    except OSError:
        pass
    finally:
        conn.close()
`;

// Shared loop: rate pacing, the done marker, the counts and the summary line.
const LOOP = `
import json, os, sys, time
def run_loop(one, marker, warm, after, cap, rate):
    counts = {"total": 0, "during": 0, "after": 0}
    failures = []
    t0 = time.monotonic()
    ready = False
    done = False
    while counts["total"] < cap:
        done = done or os.path.exists(marker)
        if done and counts["after"] >= after:
            break
        if rate > 0:
            wait = t0 + counts["total"] / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        err = one()
        if err and len(failures) < 50:
            failures.append("#%d: %s" % (counts["total"], err))
        counts["failed"] = counts.get("failed", 0) + (1 if err else 0)
        counts["total"] += 1
        if done:
            counts["after"] += 1
        elif ready:
            counts["during"] += 1
        if not ready and counts["total"] >= warm:
            ready = True
            print("ready", flush=True)
    counts.setdefault("failed", 0)
    counts["failures"] = failures
    counts["seconds"] = round(time.monotonic() - t0, 3)
    print(json.dumps(counts), flush=True)
`;

const CONNECT_CLIENT = `${LOOP}
import socket
addr, port = sys.argv[1], int(sys.argv[2])
def one():
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
    except OSError as e:
        return "socket(IPPROTO_MPTCP): %s" % e
    s.settimeout(3)
    try:
        s.connect((addr, port))
        s.sendall(b"ping\\n")
        reply = s.recv(16)
        if reply != b"M\\n":
            return "server saw %r (M: MPTCP, T: fell back to TCP)" % reply
        try:
            s.getsockopt(284, 1, 256)
        except OSError as e:
            return "client side fell back to TCP (MPTCP_INFO: %s)" % e
        return None
    except OSError as e:
        return "%s: %s" % (type(e).__name__, e)
    finally:
        s.close()
run_loop(one, *sys.argv[3:4], *map(float, sys.argv[4:8]))
`;

const SOCKET_CLIENT = `${LOOP}
import socket
comm, want = sys.argv[1], int(sys.argv[2])
with open("/proc/self/comm", "wb") as f:
    f.write(comm.encode())
protocols = {}
def one():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        got = s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL)
    finally:
        s.close()
    protocols[got] = protocols.get(got, 0) + 1
    return None if got == want else "SO_PROTOCOL %d, expected %d" % (got, want)
run_loop(one, *sys.argv[3:4], *map(float, sys.argv[4:8]))
`;

/** What a client loop printed at the end. */
export interface LoopSummary {
  /** Connections (or sockets) made in all. */
  total: number;
  /** Made after `ready` and before the done marker: while the change was applied. */
  during: number;
  /** Made after the done marker. */
  after: number;
  failed: number;
  /** The first 50 failures, `#index: reason`. */
  failures: string[];
  seconds: number;
}

/** How long a loop runs: `warm` before `ready`, `after` past the marker, never more than `cap`. */
export interface LoopBounds {
  warm: number;
  after: number;
  cap: number;
  /** Target rate per second (0: as fast as it can). */
  rate: number;
}

/** A running loop: `ready` resolves at its `ready` line; `finish()` drops the marker and waits. */
export interface RunningLoop {
  ready: Promise<void>;
  finish(): Promise<LoopSummary>;
  kill(): Promise<void>;
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
  }
  if (buf) yield buf;
}

function startLoop(
  prefix: string[],
  script: string,
  args: string[],
  bounds: LoopBounds,
): RunningLoop {
  const marker = Deno.makeTempFileSync({ prefix: "sf-loop-done-" });
  Deno.removeSync(marker);
  const numbers = [bounds.warm, bounds.after, bounds.cap, bounds.rate].map(String);
  const argv = [...prefix, "python3", "-c", script, ...args, marker, ...numbers];
  const child = programCommand(argv, {
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const out = lines(child.stdout);
  // next() by hand: a for-await that returns early would close the generator.
  const ready = (async () => {
    for (let r = await out.next(); !r.done; r = await out.next()) if (r.value === "ready") return;
    const status = await child.status;
    throw new Error(`client loop exited (${status.code}) before ready: ${await stderr}`);
  })();
  const finish = async (): Promise<LoopSummary> => {
    Deno.writeTextFileSync(marker, "done\n");
    try {
      await ready;
      let last = "";
      for (let r = await out.next(); !r.done; r = await out.next()) last = r.value;
      const status = await child.status;
      if (!status.success) throw new Error(`client loop exit ${status.code}: ${await stderr}`);
      return JSON.parse(last) as LoopSummary;
    } finally {
      Deno.removeSync(marker);
    }
  };
  const kill = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await child.status;
    await stderr.catch(() => {});
    try {
      Deno.removeSync(marker);
    } catch {
      // finish() removed it.
    }
  };
  return { ready, finish, kill };
}

/**
 * Starts an MPTCP echo server (python3, IPPROTO_MPTCP listener) in the named
 * netns and waits until it listens. Each reply says whether the accepted
 * socket is MPTCP. `stop()` kills it.
 *
 * @example A server on the lab's path-A address
 * ```ts
 * const server = await startMptcpEchoServer(lab.server.name, "10.1.2.2", 7000);
 * await server.stop();
 * ```
 */
export async function startMptcpEchoServer(
  netnsName: string,
  address: string,
  port: number,
): Promise<{ stop(): Promise<void> }> {
  const argv = inNetnsArgv(netnsName, ["python3", "-c", ECHO_SERVER, address, String(port)]);
  const child = programCommand(argv, { stdin: "null", stdout: "piped", stderr: "piped" }).spawn();
  const stderr = new Response(child.stderr).text();
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await child.status;
    await stderr.catch(() => {});
  };
  for await (const line of lines(child.stdout)) if (line === "listening") return { stop };
  await stop();
  throw new Error(`MPTCP echo server in ${netnsName} did not start: ${await stderr}`);
}

/**
 * Makes new MPTCP connections (python3, IPPROTO_MPTCP) from the named netns to
 * an {@linkcode startMptcpEchoServer} one after another at `bounds.rate` per
 * second. A connection fails when connect, send or receive fails, or when
 * either side fell back to TCP.
 *
 * @example 100 connections before, some during and 100 after an apply
 * ```ts
 * const loop = startConnectLoop(lab.client.name, "10.1.2.2", 7000, { warm: 100, after: 100, cap: 2000, rate: 100 });
 * await loop.ready;
 * await applyStack(next, store);
 * const summary = await loop.finish(); // summary.failed must be 0
 * ```
 */
export function startConnectLoop(
  netnsName: string,
  address: string,
  port: number,
  bounds: LoopBounds,
): RunningLoop {
  return startLoop(inNetnsArgv(netnsName, []), CONNECT_CLIENT, [address, String(port)], bounds);
}

/**
 * Creates TCP-type sockets (`socket(AF_INET, SOCK_STREAM, 0)`) in a python3
 * process whose task name is `comm`, checking each one's SO_PROTOCOL against
 * `want` (262 for MPTCP, 6 for TCP), in the caller's netns.
 *
 * @example A process in an MptcpifyHook's scope during a rescope
 * ```ts
 * const loop = startSocketLoop("sf-keep", 262, { warm: 500, after: 500, cap: 50_000, rate: 0 });
 * await loop.ready;
 * await applyStack(rescoped, store);
 * const summary = await loop.finish(); // summary.failed must be 0
 * ```
 */
export function startSocketLoop(comm: string, want: number, bounds: LoopBounds): RunningLoop {
  return startLoop([], SOCKET_CLIENT, [comm, String(want)], bounds);
}
