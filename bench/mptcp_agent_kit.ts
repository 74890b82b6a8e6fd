/**
 * What the agent benchmarks share: a monitor that stamps MPTCP events as a
 * bystander (its own event socket in the netns, so it measures the kernel's
 * and the agent's work, not its own), and a client that opens connections one
 * after another.
 *
 * @module
 */
import { MptcpAgentCore } from "../providers/mptcp_agent/mod.ts";
import { inNetnsArgv } from "../lab/command.ts";
import type { ScratchNetns } from "../lab/netns_kit.ts";
import { programCommand } from "../providers/system/programs.ts";

/** How long a connection stays open: long enough for its extra subflow. */
const HOLD_SECONDS = 0.3;
/** After the last client, how long late SUB_ESTABLISHED events may still come. */
const SETTLE_MS = 500;

/**
 * Per token, when the monitor read its ESTABLISHED and its first
 * SUB_ESTABLISHED (`performance.now()`, ms).
 *
 * @example Reaction times of the connections made while it ran
 * ```ts
 * const monitor = ReactionMonitor.open("/run/netns/client");
 * // … connections …
 * const gaps = await monitor.reactions();
 * await monitor.close();
 * ```
 */
export class ReactionMonitor {
  readonly #core: MptcpAgentCore;
  readonly #established = new Map<number, number>();
  readonly #joined = new Map<number, number>();
  readonly #loop: Promise<void>;
  /** Every event the monitor read, for throughput checks. */
  events = 0;

  private constructor(core: MptcpAgentCore) {
    this.#core = core;
    this.#loop = this.#run();
  }

  /** Subscribes in `netns` (no start snapshot: only new connections count). */
  static open(netns: string): ReactionMonitor {
    return new ReactionMonitor(MptcpAgentCore.open({ netns, initialResync: false }));
  }

  async #run(): Promise<void> {
    while (!this.#core.closed) {
      const signal = await this.#core.next(200);
      if (signal?.kind !== "event" || signal.event.token === undefined) continue;
      const now = performance.now();
      this.events++;
      const { type, token } = signal.event;
      if (type === "ESTABLISHED") this.#established.set(token, now);
      if (type === "SUB_ESTABLISHED" && !this.#joined.has(token)) this.#joined.set(token, now);
    }
  }

  /** The gaps (ms) of the connections that got an extra subflow, after a settle time. */
  async reactions(): Promise<number[]> {
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const gaps: number[] = [];
    for (const [token, at] of this.#established) {
      const joined = this.#joined.get(token);
      if (joined !== undefined) gaps.push(joined - at);
    }
    return gaps;
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
