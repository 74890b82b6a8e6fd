/**
 * Finding a destination's socket and taking a duplicate of it into this
 * process, so it can be put into a SOCKHASH.
 *
 * A listener URL names the socket by address (`tcp://127.0.0.1:8080`,
 * `tcp://[::1]:9000`, `udp://127.0.0.1:5353`). Discovery reads the target
 * netns's `/proc/net/{tcp,tcp6,udp,udp6}` (TCP: state LISTEN; UDP: bound and
 * unconnected), finds a process holding that socket inode through
 * `/proc/<pid>/fd`, and duplicates the fd with `pidfd_open` + `pidfd_getfd`.
 *
 * Address matching, first match wins (ties: lowest inode):
 * 1. a socket bound to exactly the URL's address;
 * 2. for an IPv4 URL, an IPv6 socket bound to the v4-mapped `::ffff:a.b.c.d`;
 * 3. a socket bound to the wildcard of the URL's family (`0.0.0.0` / `::`),
 *    since it accepts on that address too;
 * 4. for an IPv4 URL, a dual-stack `::` socket (checked: not IPV6_V6ONLY).
 *
 * @module
 */
import { UserError } from "../../engine/errors.ts";
import { KernelCallError } from "./errno.ts";
import { check, libc, SYS } from "../libc/ffi.ts";
import { inNetns } from "./netns.ts";
import { missingCapabilities } from "./features.ts";
import {
  formatIp,
  isWildcard,
  parseIp,
  parseProcNet,
  type ProcNetSocket,
  sameIp,
  TCP_STATE,
  v4Mapped,
} from "./proc_net.ts";
import {
  describeSocket,
  type Listener,
  socketConnected,
  socketOption,
  SOCKOPT,
  UnusableSocket,
} from "./socket_info.ts";

/** Why MPTCP listeners are refused as destinations. */
export const MPTCP_REFUSAL = "MPTCP listeners cannot enter a SOCKMAP on stock kernels";

/**
 * A destination socket that cannot be found or taken. The message names the
 * address (or pid and fd) and the netns; callers wrap it into a plan error.
 *
 * @example
 * ```ts
 * const e = new ListenerError("no TCP listener on 127.0.0.1:8080 in netns /run/netns/lab");
 * e instanceof Error; // true: thrown by findListener and takeSocket
 * ```
 */
export class ListenerError extends UserError {
  override name = "ListenerError";
}

/** A listener URL, decoded. */
export interface ListenerAddress {
  protocol: "tcp" | "udp";
  family: "ipv4" | "ipv6";
  /** 4 or 16 bytes, network order. */
  address: Uint8Array;
  port: number;
}

/**
 * Decodes `tcp://HOST:PORT` or `udp://HOST:PORT`; an IPv6 HOST is bracketed.
 *
 * @example
 * ```ts
 * parseListenerUrl("tcp://[::1]:9000"); // { protocol: "tcp", family: "ipv6", port: 9000, … }
 * ```
 */
export function parseListenerUrl(url: string): ListenerAddress {
  const match = /^(tcp|udp):\/\/(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):([0-9]{1,5})$/.exec(url);
  const address = match && parseIp(match[2] ?? match[3]);
  const port = match ? Number(match[4]) : 0;
  const bracketsFitFamily = match && (match[2] ? address?.length === 16 : address?.length === 4);
  if (!match || !address || !bracketsFitFamily || port < 1 || port > 65535) {
    throw new ListenerError(
      `invalid listener URL "${url}": expected tcp://HOST:PORT or udp://HOST:PORT ` +
        `(IPv6 HOST in brackets, PORT 1-65535)`,
    );
  }
  const protocol = match[1] as "tcp" | "udp";
  return { protocol, family: address.length === 4 ? "ipv4" : "ipv6", address, port };
}

/** A socket table row that could be the URL's listener, ranked by how well it matches. */
export interface Candidate {
  row: ProcNetSocket;
  rank: number;
  /** A `::` socket standing in for an IPv4 URL: usable only if not IPV6_V6ONLY. */
  needsDualStack: boolean;
}

/**
 * Orders the listening/unconnected sockets of a netns by how well they match
 * `want` (see the module doc for the rules). Rows must already be filtered to
 * listening TCP or unconnected UDP sockets.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ProcNetSocket } from "./proc_net.ts";
 *
 * function best(v4Rows: ProcNetSocket[], v6Rows: ProcNetSocket[]) {
 *   return rankCandidates(parseListenerUrl("tcp://127.0.0.1:80"), v4Rows, v6Rows)[0];
 * }
 * ```
 */
export function rankCandidates(
  want: ListenerAddress,
  v4Rows: ProcNetSocket[],
  v6Rows: ProcNetSocket[],
): Candidate[] {
  const out: Candidate[] = [];
  const add = (rows: ProcNetSocket[], rank: number, test: (a: Uint8Array) => boolean) => {
    for (const row of rows) {
      if (row.localPort === want.port && test(row.local)) {
        out.push({ row, rank, needsDualStack: rank === 4 });
      }
    }
  };
  if (want.family === "ipv4") {
    add(v4Rows, 1, (a) => sameIp(a, want.address));
    add(v6Rows, 2, (a) => sameIp(a, v4Mapped(want.address)));
    add(v4Rows, 3, isWildcard);
    add(v6Rows, 4, isWildcard);
  } else {
    add(v6Rows, 1, (a) => sameIp(a, want.address));
    add(v6Rows, 3, isWildcard);
  }
  return out.sort((a, b) => a.rank - b.rank || a.row.inode - b.row.inode);
}

/**
 * Finds the socket a listener URL names in `netns` (a path such as
 * `/run/netns/lab`; `undefined` = this thread's netns) and returns a
 * duplicate of it in this process. The caller owns and must close `fd`.
 * Throws `ListenerError` naming the address and netns when it is not there.
 * An MPTCP listener is returned with `mptcp: true`; refuse it with `MPTCP_REFUSAL`.
 *
 * @example Taking nginx's listener
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { socketCookie } from "./socket_info.ts";
 * import { libc } from "../libc/ffi.ts";
 *
 * function showNginx(): void {
 *   const l = findListener("tcp://127.0.0.1:8080", "/run/netns/lab");
 *   try { console.log(l.pid, socketCookie(l.fd)); } finally { libc().close(l.fd); }
 * }
 * ```
 */
export function findListener(url: string, netns?: string): Listener {
  const want = parseListenerUrl(url);
  const where = netns ? `netns ${netns}` : "the current netns";
  const label = `${want.protocol.toUpperCase()} ${want.protocol === "tcp" ? "listener" : "socket"}`;
  const named = `${label} on ${hostPort(want)} in ${where}`;
  const [v4Rows, v6Rows] = inNetns(netns, () => [
    readTable(want.protocol),
    readTable(`${want.protocol}6`),
  ]);
  const candidates = rankCandidates(want, v4Rows, v6Rows);
  if (candidates.length === 0) throw new ListenerError(`no ${named}`);
  const skipped: string[] = [];
  for (const candidate of candidates) {
    const taken = takeCandidate(candidate);
    if (typeof taken !== "string") return taken;
    skipped.push(taken);
  }
  throw new ListenerError(`no usable ${named}: ${skipped.join("; ")}`);
}

/** Duplicates a candidate's socket, or says why it cannot be used. */
function takeCandidate(candidate: Candidate): Listener | string {
  const { inode, localPort } = candidate.row;
  const holder = findHolder(inode);
  if (!holder) {
    const blind = missingCapabilities().includes("CAP_SYS_PTRACE")
      ? " (reading other processes' fds needs CAP_SYS_PTRACE, which this process lacks)"
      : "";
    return `socket inode ${inode} is held by no process visible in /proc${blind}`;
  }
  let dup: number;
  try {
    dup = duplicateFd(holder.pid, holder.fd);
  } catch (err) {
    return `cannot take pid ${holder.pid} fd ${holder.fd}: ${explainTakeError(err)}`;
  }
  // The holder may have closed or replaced the fd since /proc was read.
  let reason = `pid ${holder.pid} fd ${holder.fd} no longer holds socket inode ${inode}`;
  try {
    const listener = describeSocket(dup, holder.pid);
    const v6only = candidate.needsDualStack && socketOption(dup, SOCKOPT.IPV6_V6ONLY) !== 0;
    if (listener.inode === inode && !v6only) return listener;
    if (v6only) reason = `the [::]:${localPort} socket is IPV6_V6ONLY and takes no IPv4`;
  } catch (err) {
    // A socket we could take but not read (say, sock_diag refused without CAP_NET_ADMIN) is not
    // a socket the holder "no longer holds": say what failed.
    reason = `cannot read socket inode ${inode} taken from pid ${holder.pid} fd ${holder.fd}: ` +
      explainTakeError(err);
  }
  libc().close(dup);
  return reason;
}

/**
 * Duplicates fd `fd` of process `pid` into this process (`{pid, fd}`
 * destinations) and checks it is a usable destination: a listening TCP (or
 * MPTCP) socket or an unconnected UDP socket. The caller closes `fd`.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function show(): void {
 *   const l = takeSocket(4242, 5);
 *   console.log(l.protocol, l.address, l.port, l.netnsInode);
 * }
 * ```
 */
export function takeSocket(pid: number, fd: number): Listener {
  const named = `pid ${pid} fd ${fd}`;
  let dup: number;
  try {
    dup = duplicateFd(pid, fd);
  } catch (err) {
    throw new ListenerError(`cannot take ${named}: ${explainTakeError(err)}`);
  }
  try {
    const listener = describeSocket(dup, pid);
    const problem = unusableReason(listener);
    if (problem) throw new UnusableSocket(problem);
    return listener;
  } catch (err) {
    libc().close(dup);
    if (err instanceof UnusableSocket) throw new ListenerError(`${named} is ${err.message}`);
    throw err instanceof KernelCallError ? new ListenerError(`${named}: ${err.message}`) : err;
  }
}

function unusableReason(l: Listener): string | undefined {
  if (l.protocol === "tcp" && socketOption(l.fd, SOCKOPT.SO_ACCEPTCONN) !== 1) {
    return "a TCP socket that is not listening";
  }
  if (l.protocol === "udp" && socketConnected(l.fd)) {
    return "a connected UDP socket (only unconnected UDP sockets receive redirected datagrams)";
  }
  return undefined;
}

function explainTakeError(err: unknown): string {
  if (!(err instanceof KernelCallError)) return String(err);
  if (err.errnoName === "ESRCH") return "no such process";
  if (err.errnoName === "EBADF") return "no such file descriptor";
  if (err.errnoName === "EPERM") return "not permitted (needs CAP_SYS_PTRACE over the process)";
  return err.message;
}

/** pidfd_open + pidfd_getfd: a new fd (close-on-exec) for the same open file. */
function duplicateFd(pid: number, fd: number): number {
  const pidfd = check(
    `pidfd_open(${pid})`,
    libc().syscall(BigInt(SYS.pidfd_open), BigInt(pid), 0n, 0n),
  );
  try {
    return check(
      `pidfd_getfd(${pid}, ${fd})`,
      libc().syscall(BigInt(SYS.pidfd_getfd), BigInt(pidfd), BigInt(fd), 0n),
    );
  } finally {
    libc().close(pidfd);
  }
}

/** Reads `/proc/thread-self/net/<name>` (this thread's netns), listeners only. */
function readTable(name: string): ProcNetSocket[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/thread-self/net/${name}`);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return []; // IPv6 disabled: no tcp6/udp6
    throw err;
  }
  const tcp = name.startsWith("tcp");
  return parseProcNet(text).filter((row) =>
    tcp ? row.state === TCP_STATE.LISTEN : row.state === TCP_STATE.CLOSE && row.remotePort === 0
  );
}

/**
 * The first process (lowest pid, this process last) with an fd open on the
 * socket. Processes that exit or hide their fds mid-scan are skipped.
 */
function findHolder(inode: number): { pid: number; fd: number } | undefined {
  const link = `socket:[${inode}]`;
  const pids = [...Deno.readDirSync("/proc")]
    .filter((e) => /^[0-9]+$/.test(e.name))
    .map((e) => Number(e.name))
    .filter((pid) => pid !== Deno.pid)
    .sort((a, b) => a - b);
  for (const pid of [...pids, Deno.pid]) {
    const fd = fdOpenOn(pid, link);
    if (fd !== undefined) return { pid, fd };
  }
  return undefined;
}

function fdOpenOn(pid: number, link: string): number | undefined {
  try {
    for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
      try {
        if (Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`) === link) return Number(entry.name);
      } catch { /* fd closed while scanning */ }
    }
  } catch { /* process gone, or fds not readable */ }
  return undefined;
}

function hostPort(a: { family: "ipv4" | "ipv6"; address: Uint8Array; port: number }): string {
  const host = formatIp(a.address);
  return a.family === "ipv6" ? `[${host}]:${a.port}` : `${host}:${a.port}`;
}
