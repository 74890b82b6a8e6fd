/**
 * A snapshot of a netns's live MPTCP connections and their subflows, read
 * from the kernel's sock_diag (what `ss -M` and `ss -ti` read). This is the
 * resync source of the agent core: after an event overflow the consumer
 * rebuilds its view from it.
 *
 * The two dumps (connections, then subflows) are separate kernel walks, so a
 * connection may appear without its subflows or a subflow without its
 * connection when sockets come and go in between; subflows whose token is
 * not among the connections are kept in `orphanSubflows` rather than lost.
 * A dump is synchronous and short (one netlink round trip per ~30 sockets),
 * bounded by a receive timeout.
 *
 * @module
 */
import { KernelCallError } from "../system/errno.ts";
import { libc } from "../libc/ffi.ts";
import { decodeError, decodeMessages, encodeMessage, NLM_F, NLMSG } from "../netlink/codec.ts";
import {
  decodeDiagConnection,
  decodeDiagSubflow,
  type DiagConnection,
  type DiagSubflow,
  encodeDiagRequest,
  NETLINK_SOCK_DIAG,
  SOCK_DIAG_BY_FAMILY,
  TCP_LISTEN,
} from "./diag_codec.ts";
import { openNetlink, receive, sendToKernel, setReceiveTimeout } from "./nl_fd.ts";

export type { DiagConnection, DiagSubflow } from "./diag_codec.ts";

/** A live MPTCP connection with the subflows the kernel lists for its token. */
export interface MptcpConnection extends DiagConnection {
  subflows: DiagSubflow[];
}

/** Every live MPTCP connection of a netns, keyed by token. */
export interface MptcpSnapshot {
  /** `Date.now()` when the dump started. */
  takenAt: number;
  connections: Map<number, MptcpConnection>;
  /** Subflows whose connection was not in the connection dump (it came or went in between). */
  orphanSubflows: DiagSubflow[];
}

const FAMILIES = [2, 10] as const;
const DIAG_TIMEOUT_SECONDS = 5;

function dumpFamily(fd: number, family: number, mptcp: boolean, seq: number): Uint8Array[] {
  const call = `sock_diag dump ${mptcp ? "mptcp" : "tcp"} family ${family}`;
  const flags = NLM_F.REQUEST | NLM_F.DUMP;
  const msg = encodeMessage(
    { type: SOCK_DIAG_BY_FAMILY, flags, seq, pid: 0 },
    encodeDiagRequest(family, mptcp),
  );
  sendToKernel(fd, msg, call);
  const buffer = new Uint8Array(64 * 1024);
  const out: Uint8Array[] = [];
  for (;;) {
    const r = receive(fd, buffer, true, call);
    if (r.kind === "empty") {
      throw new KernelCallError(call, 110, "no reply within the receive timeout");
    }
    if (r.kind === "overflow") throw new KernelCallError(call, 105, "dump reply overflowed");
    for (const m of decodeMessages(r.bytes)) {
      if (m.seq !== seq) continue;
      if (m.type === NLMSG.DONE) return out;
      if (m.type === NLMSG.ERROR) {
        const status = decodeError(m);
        if (status.errno) {
          throw new KernelCallError(call, status.errno, `sock_diag error ${status.errno}`);
        }
        return out;
      }
      out.push(m.payload);
    }
  }
}

function withDiagSocket<T>(netns: string | undefined, fn: (fd: number) => T): T {
  const fd = openNetlink(NETLINK_SOCK_DIAG, netns);
  try {
    setReceiveTimeout(fd, DIAG_TIMEOUT_SECONDS);
    return fn(fd);
  } finally {
    libc().close(fd);
  }
}

/**
 * The live MPTCP connections of `netns` (listeners and token-less sockets left out).
 *
 * @example Tokens as `ss -M` prints them
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function tokens(): void {
 *   const tokens = dumpMptcpConnections("/run/netns/lab").map((c) => c.token.toString(16));
 * }
 * ```
 */
export function dumpMptcpConnections(netns?: string): DiagConnection[] {
  return withDiagSocket(
    netns,
    (fd) =>
      FAMILIES.flatMap((family, i) => dumpFamily(fd, family, true, i + 1))
        .map(decodeDiagConnection)
        .filter((c) => c.token !== 0 && c.state !== TCP_LISTEN),
  );
}

/**
 * The MPTCP subflows of `netns`: TCP sockets carrying the mptcp ULP with a
 * token (listening sockets left out).
 *
 * @example Subflows per token
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function subflowsOf(token: number): number {
 *   return dumpMptcpSubflows("/run/netns/lab").filter((s) => s.token === token).length;
 * }
 * ```
 */
export function dumpMptcpSubflows(netns?: string): DiagSubflow[] {
  return dumpTcpDiag(netns)
    .map(decodeDiagSubflow)
    .filter((s): s is DiagSubflow => !!s && s.token !== 0 && s.state !== TCP_LISTEN);
}

/**
 * The raw replies of one TCP dump of `netns` (IPv4 then IPv6), each an
 * `inet_diag_msg` with its attributes (`INET_DIAG_INFO` carries `struct
 * tcp_info`), for decoders that need more than the subflow fields.
 *
 * @example How many TCP sockets a netns has
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function count(): void {
 *   const n = dumpTcpDiag("/run/netns/lab").length;
 * }
 * ```
 */
export function dumpTcpDiag(netns?: string): Uint8Array[] {
  return withDiagSocket(
    netns,
    (fd) => FAMILIES.flatMap((family, i) => dumpFamily(fd, family, false, i + 1)),
  );
}

/**
 * Dumps connections, then subflows, and joins them by token.
 *
 * @example Counting subflows per connection
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function show(): void {
 *   const snap = takeSnapshot("/run/netns/lab");
 *   for (const [token, c] of snap.connections) console.log(token.toString(16), c.subflows.length);
 * }
 * ```
 */
export function takeSnapshot(netns?: string): MptcpSnapshot {
  const takenAt = Date.now();
  const connections = new Map<number, MptcpConnection>();
  for (const c of dumpMptcpConnections(netns)) connections.set(c.token, { ...c, subflows: [] });
  const orphanSubflows: DiagSubflow[] = [];
  for (const sf of dumpMptcpSubflows(netns)) {
    const conn = connections.get(sf.token);
    if (conn) conn.subflows.push(sf);
    else orphanSubflows.push(sf);
  }
  return { takenAt, connections, orphanSubflows };
}
