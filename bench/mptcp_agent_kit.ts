/**
 * What the agent benchmarks share: a monitor that counts MPTCP events as a
 * bystander (its own event socket in the netns), a packet sniffer that times
 * each connection's extra subflow with kernel timestamps, and a client that
 * opens connections one after another.
 *
 * @module
 */
import { MptcpAgentCore } from "../providers/mptcp_agent/mod.ts";
import { inNetnsArgv } from "../lab/command.ts";
import type { ScratchNetns } from "../lab/netns_kit.ts";
import { programCommand } from "../providers/system/programs.ts";

/** How long a connection stays open: long enough for its extra subflow. */
const HOLD_SECONDS = 0.3;

/**
 * A bystander on the netns's MPTCP events: it counts what the kernel sent,
 * with its own 8 MB socket, so an agent's count can be compared with it.
 *
 * @example Events seen while a burst ran
 * ```ts
 * const monitor = EventMonitor.open("/run/netns/client");
 * // … connections …
 * console.log(monitor.events);
 * await monitor.close();
 * ```
 */
export class EventMonitor {
  readonly #core: MptcpAgentCore;
  readonly #loop: Promise<void>;
  /** Every event the monitor read, for throughput checks. */
  events = 0;

  private constructor(core: MptcpAgentCore) {
    this.#core = core;
    this.#loop = this.#run();
  }

  /** Subscribes in `netns` (no start snapshot: only new events count). */
  static open(netns: string): EventMonitor {
    return new EventMonitor(MptcpAgentCore.open({ netns, initialResync: false }));
  }

  async #run(): Promise<void> {
    while (!this.#core.closed) {
      const signal = await this.#core.next(200);
      if (signal?.kind === "event") this.events++;
    }
  }

  /** Overflows the monitor's own socket saw (a non-zero count voids its figures). */
  get overflows(): number {
    return this.#core.counters.overflows;
  }

  /** Stops listening. */
  async close(): Promise<void> {
    await this.#core.close();
    await this.#loop.catch(() => {});
  }
}

const SEQUENTIAL_CLIENT = `
import socket, sys, time
addr, port, count, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
made = 0
for i in range(count):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
    s.settimeout(3)
    try:
        s.connect((addr, port))
        s.sendall(b"x")
        made += 1
        time.sleep(hold)
    except OSError:
        pass
    s.close()
print(made, flush=True)
`;

/**
 * Opens `count` MPTCP connections one after another from `ns` (each sends a
 * byte and stays open {@link HOLD_SECONDS}); resolves with how many connected.
 *
 * @example
 * ```ts
 * const made = await runSequentialClients(lab.client, "10.1.2.2", 7300, 40);
 * ```
 */
export async function runSequentialClients(
  ns: ScratchNetns,
  address: string,
  port: number,
  count: number,
): Promise<number> {
  const args = [address, String(port), String(count), String(HOLD_SECONDS)];
  const argv = inNetnsArgv(ns.name, ["python3", "-c", SEQUENTIAL_CLIENT, ...args]);
  const limit = AbortSignal.timeout((count * (HOLD_SECONDS + 3) + 10) * 1000);
  const out = await programCommand(argv, { stdout: "piped", stderr: "piped", signal: limit })
    .output();
  if (!out.success) throw new Error(`client failed: ${new TextDecoder().decode(out.stderr)}`);
  return Number(new TextDecoder().decode(out.stdout).trim());
}

/**
 * Times each connection's extra subflow from kernel packet timestamps
 * (AF_PACKET with SO_TIMESTAMPNS in the client netns): from the last packet
 * the server sent on the initial subflow (the one that made the connection
 * fully established, which is when the kernel emits ESTABLISHED and its PM
 * acts) to the client's MP_JOIN SYN. Connections must come one at a time.
 * Timestamps taken by a reader of events would measure that reader's own
 * wake-up: the in-kernel PM often has the join out before any reader runs.
 */
const JOIN_SNIFFER = String.raw`
import json, select, socket, struct, sys, time
port, limit = int(sys.argv[1]), float(sys.argv[2])
SO_TIMESTAMPNS = 35  # asm-generic/socket.h; Python names it only on some builds
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
print("ready", flush=True)
last_in, gaps, end = None, [], time.monotonic() + limit
def tcp(data):
    if len(data) < 34 or data[12:14] != b"\x08\x00" or data[23] != 6:
        return None
    ip = 14 + (data[14] & 15) * 4
    sport, dport = struct.unpack("!HH", data[ip:ip + 4])
    flags, off = data[ip + 13], (data[ip + 12] >> 4) * 4
    opts, i, join = data[ip + 20:ip + off], 0, False
    while i < len(opts):
        if opts[i] in (0, 1):
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2:
            break
        if opts[i] == 30 and i + 2 < len(opts) and opts[i + 2] >> 4 == 1:
            join = True
        i += opts[i + 1]
    return sport, dport, flags, join
while time.monotonic() < end:
    r, _, _ = select.select([s, sys.stdin], [], [], 0.5)
    if sys.stdin in r and not sys.stdin.readline():
        break
    if s not in r:
        continue
    data, anc, _, addr = s.recvmsg(2048, 64)
    ts = None
    for level, kind, raw in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", raw[:16])
            ts = sec * 1e3 + nsec / 1e6
    t = tcp(data)
    if ts is None or t is None:
        continue
    sport, dport, flags, join = t
    outgoing = addr[2] == socket.PACKET_OUTGOING
    if not outgoing and sport == port:
        last_in = ts
    elif outgoing and join and flags & 0x12 == 0x02 and last_in is not None:
        gaps.append(ts - last_in)
        last_in = None
print(json.dumps(gaps), flush=True)
`;

/** A running sniffer; `stop()` ends it and gives the gaps in ms. */
export interface JoinSniffer {
  stop(): Promise<number[]>;
}

/**
 * Starts the sniffer in `ns` for connections to server port `port` (ended
 * after `seconds` at the latest).
 *
 * @example Reaction times of one block of connections
 * ```ts
 * const sniffer = await startJoinSniffer(lab.client, 7300, 120);
 * await runSequentialClients(lab.client, "10.1.2.2", 7300, 40);
 * const gaps = await sniffer.stop();
 * ```
 */
export async function startJoinSniffer(
  ns: ScratchNetns,
  port: number,
  seconds: number,
): Promise<JoinSniffer> {
  const argv = inNetnsArgv(ns.name, ["python3", "-c", JOIN_SNIFFER, String(port), String(seconds)]);
  const child = programCommand(argv, { stdin: "piped", stdout: "piped", stderr: "piped" }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stderr = new Response(child.stderr).text();
  let text = "";
  const line = async () => {
    while (!text.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) break;
      text += value;
    }
    const [first, ...rest] = text.split("\n");
    text = rest.join("\n");
    return first;
  };
  if (await line() !== "ready") {
    await child.status;
    throw new Error(`join sniffer did not start: ${await stderr}`);
  }
  return {
    async stop() {
      await child.stdin.close();
      const out = await line();
      await child.status;
      return JSON.parse(out || "[]") as number[];
    },
  };
}
