/**
 * The shared MPTCP agent core: one event stream of a netns that never loses
 * an event silently. Both agent kinds sit on it:
 *
 * - **PathManager (userspace PM).** A policy consumes the signals. On the
 *   client it answers ESTABLISHED / SUB_CLOSED / ANNOUNCED with
 *   SUBFLOW_CREATE, SUBFLOW_DESTROY or SET_FLAGS (with the event's token); on
 *   the server it answers CREATED / ESTABLISHED with ANNOUNCE, and CLOSED or a
 *   local address loss with REMOVE. A `resync` signal hands it every live
 *   connection with its subflows, and it brings each to what the policy wants
 *   (subflows missing → create, extra → destroy), exactly as if it had seen
 *   the missed events.
 * - **Scheduler (roles).** It tracks subflows from SUB_ESTABLISHED /
 *   SUB_CLOSED (and the snapshot after a resync) and flips each one's backup
 *   flag with SET_FLAGS (token + local/remote address and port) when its path's
 *   role, or a dynamic rule over live diag state, says so. The side that sends
 *   SET_FLAGS gets no SUB_PRIORITY, so it keeps what it set and compares with
 *   the snapshot's `backupLocal`.
 *
 * Delivery is pull-based: {@linkcode MptcpAgentCore.next} reads from the
 * kernel only when the consumer asks, so a slow consumer leaves events in the
 * kernel's socket buffer (forced large), and if that still overflows the
 * consumer gets a `resync` signal with a fresh snapshot instead of a silent
 * gap. On an overflow the core first empties the socket (those events all
 * predate the snapshot and are delivered before it), then takes the
 * snapshot: so the consumer's view, rebuilt from the snapshot and the events
 * after it, converges to the kernel's. Events after the snapshot may already
 * be reflected in it, so consumers must be idempotent (a CREATED for a known
 * token, a CLOSED or SUB_CLOSED for an unknown one are no-ops). A snapshot
 * that fails (a diag error) is thrown to the consumer from `next()`.
 *
 * @module
 */
import { type EventBatch, type EventSocketOptions, MptcpEventSocket } from "./event_socket.ts";
import { type AgentCounters, countEvent, newCounters } from "./counters.ts";
import type { MptcpEvent } from "./events.ts";
import { type MptcpSnapshot, takeSnapshot } from "./snapshot.ts";

/** Bound on the drains after an overflow (each up to 512 datagrams), so a flood cannot pin the core. */
const RECOVER_DRAINS = 64;

/** What {@linkcode MptcpAgentCore} `#ready` gives when the consumer must wait for the kernel. */
const WAIT = Symbol("wait");

/** Why a resync snapshot was taken. */
export type ResyncReason = "start" | "overflow";

/** One thing the consumer must handle, in order. */
export type AgentSignal =
  | { kind: "event"; event: MptcpEvent }
  | { kind: "resync"; reason: ResyncReason; snapshot: MptcpSnapshot };

/** Options of {@linkcode MptcpAgentCore.open}. */
export interface AgentCoreOptions extends EventSocketOptions {
  /** Hand a `start` snapshot first (after subscribing, so nothing falls in between). Default true. */
  initialResync?: boolean;
}

/**
 * Events of one netns, with overflow turned into resyncs, and counters.
 *
 * @example A loop that keeps a token set in step with the kernel
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function track(): Promise<void> {
 *   const core = MptcpAgentCore.open({ netns: "/run/netns/client" });
 *   const live = new Set<number>();
 *   for await (const s of core) {
 *     if (s.kind === "resync") live.clear(), s.snapshot.connections.forEach((_, t) => live.add(t));
 *     else if (s.event.type === "CREATED") live.add(s.event.token!);
 *     else if (s.event.type === "CLOSED") live.delete(s.event.token!);
 *   }
 * }
 * ```
 */
export class MptcpAgentCore implements AsyncIterable<AgentSignal> {
  readonly #socket: MptcpEventSocket;
  readonly #netns: string | undefined;
  readonly #queue: AgentSignal[] = [];
  /** A resync owed to the consumer: at start, or a snapshot that failed. */
  #pending: ResyncReason | undefined;
  #caughtUpAt = 0;
  /** Counters for `show`: events per type, overflows, resyncs. */
  readonly counters: AgentCounters;

  private constructor(socket: MptcpEventSocket, options: AgentCoreOptions) {
    this.#socket = socket;
    this.#netns = options.netns;
    this.#pending = options.initialResync === false ? undefined : "start";
    this.counters = newCounters(socket.receiveBufferBytes);
  }

  /** Subscribes to the netns's events (synchronously; the socket is bound to the netns). */
  static open(options: AgentCoreOptions = {}): MptcpAgentCore {
    return new MptcpAgentCore(MptcpEventSocket.open(options), options);
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#socket.closed;
  }

  /**
   * `Date.now()` when the consumer last had every signal the kernel had
   * queued (the socket drained empty): an answer the kernel sent before then
   * has been handed over, so a command still unanswered then is lost, not
   * merely waiting behind a backlog.
   */
  get caughtUpAt(): number {
    return this.#caughtUpAt;
  }

  /** The netns the core listens in (undefined: the caller's). */
  get netns(): string | undefined {
    return this.#netns;
  }

  /**
   * The next signal, waiting up to `timeoutMs` for the kernel; `undefined`
   * on timeout or after `close()`.
   */
  async next(timeoutMs = Infinity): Promise<AgentSignal | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ready = this.#ready();
      if (ready !== WAIT) return ready;
      if (!await this.#socket.wait(deadline - Date.now())) return undefined;
    }
  }

  /**
   * {@linkcode MptcpAgentCore.next} for a thread with nothing else to do:
   * waits in a synchronous `poll(2)` (see
   * {@linkcode MptcpEventSocket.waitBlocking}), so keep `timeoutMs` short and
   * yield to the event loop between calls.
   */
  nextBlocking(timeoutMs: number): AgentSignal | undefined {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ready = this.#ready();
      if (ready !== WAIT) return ready;
      if (!this.#socket.waitBlocking(deadline - Date.now())) return undefined;
    }
  }

  /** A signal ready without waiting, `undefined` once closed, or WAIT. */
  #ready(): AgentSignal | undefined | typeof WAIT {
    for (;;) {
      const queued = this.#queue.shift();
      if (queued) return queued;
      if (this.#socket.closed) return undefined;
      if (this.#pending) return this.#resync(this.#pending);
      if (this.#take(this.#socket.drain()) > 0) this.#recover();
      if (!this.#queue.length) return (this.#caughtUpAt = Date.now()), WAIT;
    }
  }

  /** Queues a batch's events and counts them; returns its overflow count. */
  #take(batch: EventBatch): number {
    this.counters.unknownEvents += batch.unknown;
    this.counters.overflows += batch.overflows;
    for (const event of batch.events) {
      countEvent(this.counters, event.type);
      this.#queue.push({ kind: "event", event });
    }
    return batch.overflows;
  }

  /**
   * After a loss: empty the socket first (what is queued predates the
   * snapshot, and a stale CREATED read after it would revive a connection
   * whose CLOSED was dropped), then snapshot, and queue the resync after the
   * drained events so it overrides them.
   */
  #recover(): void {
    for (let i = 0; i < RECOVER_DRAINS; i++) {
      const batch = this.#socket.drain();
      this.#take(batch);
      if (!batch.events.length && !batch.unknown && !batch.overflows) break;
    }
    // If the snapshot fails, the error reaches the consumer and the next
    // `next()` retries it after the drained events.
    this.#pending = "overflow";
    this.#queue.push(this.#resync("overflow"));
  }

  #resync(reason: ResyncReason): AgentSignal {
    const snapshot = takeSnapshot(this.#netns);
    this.#pending = undefined;
    this.counters.resyncs++;
    this.counters.lastResyncAt = snapshot.takenAt;
    return { kind: "resync", reason, snapshot };
  }

  async *[Symbol.asyncIterator](): AsyncIterator<AgentSignal> {
    for (;;) {
      const signal = await this.next();
      if (!signal) return;
      yield signal;
    }
  }

  /** Stops listening; a pending `next()` resolves `undefined`. */
  close(): Promise<void> {
    return this.#socket.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
