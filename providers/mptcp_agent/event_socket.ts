/**
 * A listener on the generic-netlink `mptcp_pm_events` multicast group of one
 * netns, which never blocks Deno's event loop.
 *
 * Why nonblocking FFI + poll, not a Worker: the socket is created on the JS
 * thread inside the netns (setns is per thread, so creation must be
 * synchronous there; `netns.ts`), and a netlink socket keeps its netns for
 * life. Waiting is a `poll(2)` declared `nonblocking: true`, which Deno runs
 * on its blocking pool and hands back as a Promise; the receive itself is a
 * synchronous `recvfrom(MSG_DONTWAIT)` on the JS thread, so errno (thread
 * local) is read on the thread that made the call and ENOBUFS is seen
 * reliably. A Worker would need its own FFI table, a message protocol and a
 * copy of every event for no gain: the drain is short and never waits.
 * The agent process, whose main thread has nothing else to do, waits with
 * {@linkcode MptcpEventSocket.waitBlocking} instead (a synchronous `poll(2)`
 * on that thread, in short slices between which it yields to the event
 * loop), which spares each event the pool thread and the event-loop hop.
 * That hop turned out small beside the cold decode → policy → command path
 * (bench/README.md, mptcp_agent_reaction).
 * An eventfd in the same poll set wakes a pending wait when the socket is
 * closed, so close is prompt and no fd is closed while a poll uses it.
 *
 * No lost event goes unnoticed: the receive buffer is forced with
 * `SO_RCVBUFFORCE` (8 MB by default), `NETLINK_NO_ENOBUFS` is never set, and
 * a receive that fails with ENOBUFS (the kernel dropped messages for this
 * socket) is counted in the batch; the drain goes on, so one drain empties
 * the queue as far as its bound allows.
 *
 * @module
 */
import { KernelCallError } from "../system/errno.ts";
import { libc } from "../libc/ffi.ts";
import { decodeGenl, decodeMessages } from "../netlink/codec.ts";
import { withGenlSocket } from "../netlink/genl.ts";
import { MPTCP_PM_FAMILY } from "../netlink/mptcp_pm_codec.ts";
import { decodeMptcpEvent, MPTCP_PM_EVENTS_GROUP, type MptcpEvent } from "./events.ts";
import {
  getIntOption,
  NETLINK_ADD_MEMBERSHIP,
  openNetlink,
  receive,
  setIntOption,
  SO,
  SOL_NETLINK,
  SOL_SOCKET,
} from "./nl_fd.ts";

const NETLINK_GENERIC = 16;
const EFD_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;
const POLLIN = 1;
/** A pending wait re-polls at least this often, so a lost wake-up cannot hang it. */
const POLL_SLICE_MS = 1000;

const MAX_POLL_FAILURES = 100;

/** The receive buffer asked for when none is given: 8 MB (the kernel doubles it). */
export const DEFAULT_RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024;

/** Where and how to listen. */
export interface EventSocketOptions {
  /** Netns path (e.g. `/run/netns/client`); default the caller's. */
  netns?: string;
  /** `SO_RCVBUFFORCE` value; default {@linkcode DEFAULT_RECEIVE_BUFFER_BYTES}. */
  receiveBufferBytes?: number;
}

/** What one drain returned: events in kernel order, and how many overflows were seen. */
export interface EventBatch {
  events: MptcpEvent[];
  /** Messages of event types this code does not know. */
  unknown: number;
  /**
   * Receives that failed with ENOBUFS: the kernel dropped messages for this
   * socket. Linux reports the error before the queued messages, so the
   * events of the same drain may be older than the loss.
   */
  overflows: number;
}

function resolveGroup(netns: string | undefined): { familyId: number; groupId: number } {
  const family = withGenlSocket(netns, (s) => s.family(MPTCP_PM_FAMILY));
  const groupId = family.groups[MPTCP_PM_EVENTS_GROUP];
  if (!groupId) {
    throw new KernelCallError("mptcp_pm family", 2, `kernel has no ${MPTCP_PM_EVENTS_GROUP} group`);
  }
  return { familyId: family.id, groupId };
}

/** POLLIN, or POLLERR when the kernel flagged ENOBUFS, in the socket's `revents`. */
function readable(n: number, fds: Uint8Array<ArrayBuffer>): boolean {
  return n > 0 && new DataView(fds.buffer).getInt16(6, true) !== 0;
}

/**
 * A joined `mptcp_pm_events` socket. Await {@linkcode MptcpEventSocket.wait}
 * and then {@linkcode MptcpEventSocket.drain}; `close()` when done.
 *
 * @example Print events of a netns for ten seconds
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function tenSeconds(): Promise<void> {
 *   const sock = MptcpEventSocket.open({ netns: "/run/netns/client" });
 *   const until = Date.now() + 10_000;
 *   while (await sock.wait(until - Date.now())) console.log(sock.drain().events);
 *   await sock.close();
 * }
 * ```
 */
export class MptcpEventSocket {
  #fd: number;
  #wake: number;
  #closing = false;
  #pending: Promise<unknown> | undefined;
  readonly #buffer = new Uint8Array(64 * 1024);
  readonly familyId: number;
  /** The receive buffer the kernel granted (`SO_RCVBUF`, twice the forced value). */
  readonly receiveBufferBytes: number;

  private constructor(fd: number, wake: number, familyId: number) {
    this.#fd = fd;
    this.#wake = wake;
    this.familyId = familyId;
    this.receiveBufferBytes = getIntOption(fd, SOL_SOCKET, SO.RCVBUF);
  }

  /** Opens a socket in the netns, forces its receive buffer and joins the events group. */
  static open(options: EventSocketOptions = {}): MptcpEventSocket {
    const { familyId, groupId } = resolveGroup(options.netns);
    const fd = openNetlink(NETLINK_GENERIC, options.netns);
    let wake = -1;
    try {
      const bytes = options.receiveBufferBytes ?? DEFAULT_RECEIVE_BUFFER_BYTES;
      setIntOption(fd, SOL_SOCKET, SO.RCVBUFFORCE, bytes, "setsockopt(SO_RCVBUFFORCE)");
      setIntOption(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, groupId, "NETLINK_ADD_MEMBERSHIP");
      wake = Number(libc().eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
      if (wake < 0) throw new KernelCallError("eventfd", 24, "cannot create an eventfd");
      return new MptcpEventSocket(fd, wake, familyId);
    } catch (err) {
      libc().close(fd);
      if (wake >= 0) libc().close(wake);
      throw err;
    }
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closing;
  }

  /**
   * Waits until a message (or an overflow mark) is queued, without blocking
   * the event loop. Resolves true when readable, false on timeout or close.
   */
  async wait(timeoutMs = Infinity): Promise<boolean> {
    const deadline = Date.now() + Math.max(0, timeoutMs);
    const fds = this.#pollSet();
    let failures = 0;
    while (!this.#closing) {
      const call = libc().poll(fds, 2n, this.#slice(deadline));
      this.#pending = call;
      const n = await call;
      this.#pending = undefined;
      if (this.#closing) break;
      failures = this.#failures(n, failures);
      if (readable(n, fds)) return true;
      if (Date.now() >= deadline) return false;
    }
    return false;
  }

  /**
   * Like {@linkcode MptcpEventSocket.wait}, but blocks the calling thread in
   * `poll(2)`: the event is then drained, decoded and handled on the thread
   * the kernel woke, with no hop through Deno's blocking pool and event loop.
   * Only for a thread with nothing else to do (the agent process's loop),
   * and with a short timeout: signal listeners and timers run only when the
   * caller yields to the event loop, and `close()` must not run meanwhile.
   */
  waitBlocking(timeoutMs: number): boolean {
    const deadline = Date.now() + Math.max(0, timeoutMs);
    const fds = this.#pollSet();
    let failures = 0;
    while (!this.#closing) {
      const n = libc().pollBlocking(fds, 2n, this.#slice(deadline));
      failures = this.#failures(n, failures);
      if (readable(n, fds)) return true;
      if (Date.now() >= deadline) return false;
    }
    return false;
  }

  /** The socket (POLLIN) and the close eventfd (POLLIN), as two `struct pollfd`. */
  #pollSet(): Uint8Array<ArrayBuffer> {
    const fds = new Uint8Array(16);
    const dv = new DataView(fds.buffer);
    dv.setInt32(0, this.#fd, true);
    dv.setInt16(4, POLLIN, true);
    dv.setInt32(8, this.#wake, true);
    dv.setInt16(12, POLLIN, true);
    return fds;
  }

  #slice(deadline: number): number {
    return Math.max(0, Math.min(POLL_SLICE_MS, deadline - Date.now()));
  }

  /** -1 (EINTR, or worse): poll again, but never spin on a persistent error. */
  #failures(n: number, failures: number): number {
    const next = n < 0 ? failures + 1 : 0;
    if (next > MAX_POLL_FAILURES) throw new KernelCallError("poll(mptcp_pm_events)", 5, "fails");
    return next;
  }

  /**
   * Reads what is queued without waiting, up to `maxMessages` datagrams
   * (overflow marks included).
   */
  drain(maxMessages = 512): EventBatch {
    const batch: EventBatch = { events: [], unknown: 0, overflows: 0 };
    for (let i = 0; i < maxMessages && !this.#closing; i++) {
      const r = receive(this.#fd, this.#buffer, false, "recv(mptcp_pm_events)");
      if (r.kind === "empty") break;
      if (r.kind === "overflow") batch.overflows++;
      else this.#decode(r.bytes, batch);
    }
    return batch;
  }

  #decode(bytes: Uint8Array, batch: EventBatch): void {
    for (const msg of decodeMessages(bytes)) {
      if (msg.type !== this.familyId) continue;
      const { cmd, attrs } = decodeGenl(msg.payload);
      const event = decodeMptcpEvent(cmd, attrs);
      if (event) batch.events.push(event);
      else batch.unknown++;
    }
  }

  /** Stops listening: wakes a pending wait, then closes both fds. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#fd < 0) return;
    this.#closing = true;
    libc().write(this.#wake, new Uint8Array(new BigUint64Array([1n]).buffer), 8n);
    await this.#pending;
    if (this.#fd < 0) return;
    libc().close(this.#fd);
    libc().close(this.#wake);
    this.#fd = this.#wake = -1;
  }
}
