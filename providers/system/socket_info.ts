/**
 * Facts about a socket fd held by this process: its cookie, protocol,
 * bound address, inode and network namespace, read with getsockopt(2),
 * getsockname(2) and ioctl(SIOCGSKNS).
 *
 * @module
 */
import { KernelCallError } from "./errno.ts";
import { check, libc } from "../libc/ffi.ts";
import { AF, decodeSockaddr, formatIp } from "./proc_net.ts";

/** A destination socket duplicated into this process. */
export interface Listener {
  /** Our duplicate of the socket; the caller owns it and must close it. */
  fd: number;
  /** The socket inode (`socket:[inode]`), the same in every process holding it. */
  inode: number;
  /** A process that holds the socket: where the duplicate was taken from. */
  pid: number;
  /** `tcp` also for MPTCP sockets; see `mptcp`. */
  protocol: "tcp" | "udp";
  /** SO_PROTOCOL is IPPROTO_MPTCP (262): such sockets cannot enter a SOCKMAP. */
  mptcp: boolean;
  family: "ipv4" | "ipv6";
  /** The bound address as the kernel has it; `0.0.0.0` / `::` for a wildcard bind. */
  address: string;
  port: number;
  /** Inode of the socket's network namespace (as `stat -L /proc/<pid>/ns/net` shows). */
  netnsInode: number;
}

/** `level` and `name` pairs for getsockopt(2). */
export const SOCKOPT = {
  SO_TYPE: [1, 3],
  SO_ACCEPTCONN: [1, 30],
  SO_PROTOCOL: [1, 38],
  SO_DOMAIN: [1, 39],
  SO_COOKIE: [1, 57],
  IPV6_V6ONLY: [41, 26],
} as const satisfies Record<string, readonly [number, number]>;

const IPPROTO = { TCP: 6, UDP: 17, MPTCP: 262 } as const;
const SIOCGSKNS = 0x894c;

/** A socket that cannot be a destination; the message says why ("not a socket", …). */
export class UnusableSocket extends Error {
  override name = "UnusableSocket";
}

/**
 * Reads an `int` socket option.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function listening(fd: number): boolean {
 *   return socketOption(fd, SOCKOPT.SO_ACCEPTCONN) === 1;
 * }
 * ```
 */
export function socketOption(fd: number, [level, name]: readonly [number, number]): number {
  const value = new Uint8Array(4);
  const length = new Uint32Array([4]);
  check(`getsockopt(${fd}, ${level}, ${name})`, libc().getsockopt(fd, level, name, value, length));
  return new DataView(value.buffer).getInt32(0, true);
}

/**
 * The socket's cookie (SO_COOKIE): a 64-bit id unique for the socket's
 * lifetime. A SOCKHASH value read from userspace is this cookie, so comparing
 * the two tells whether a map entry holds the socket we want.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function drifted(inMap: bigint, listener: Listener): boolean {
 *   return inMap !== socketCookie(listener.fd); // inMap: the u64 cookie the destinations map holds
 * }
 * ```
 */
export function socketCookie(fd: number): bigint {
  const [level, name] = SOCKOPT.SO_COOKIE;
  const value = new Uint8Array(8);
  const length = new Uint32Array([8]);
  check(`getsockopt(${fd}, SO_COOKIE)`, libc().getsockopt(fd, level, name, value, length));
  return new DataView(value.buffer).getBigUint64(0, true);
}

/**
 * True when the socket has a peer (getpeername succeeds): a connected UDP
 * socket or an established TCP one.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function requireUnconnected(fd: number): void {
 *   if (socketConnected(fd)) throw new Error("UDP destination must be unconnected");
 * }
 * ```
 */
export function socketConnected(fd: number): boolean {
  const address = new Uint8Array(128);
  const length = new Uint32Array([128]);
  try {
    check(`getpeername(${fd})`, libc().getpeername(fd, address, length));
    return true;
  } catch (err) {
    if (err instanceof KernelCallError && err.errno === 107 /* ENOTCONN */) return false;
    throw err;
  }
}

/**
 * Describes a socket fd this process holds, taken from process `pid`.
 * Throws `UnusableSocket` for anything but a TCP, MPTCP or UDP socket over
 * IPv4 or IPv6.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function show(dupFd: number): void {
 *   const l = describeSocket(dupFd, 4242);
 *   console.log(`${l.protocol} ${l.address}:${l.port}`);
 * }
 * ```
 */
export function describeSocket(fd: number, pid: number): Listener {
  const inode = socketInode(fd);
  const domain = socketOption(fd, SOCKOPT.SO_DOMAIN);
  if (domain !== AF.INET && domain !== AF.INET6) {
    throw new UnusableSocket(`not an IPv4 or IPv6 socket (address family ${domain})`);
  }
  const protocolNumber = socketOption(fd, SOCKOPT.SO_PROTOCOL);
  const protocol = protocolNumber === IPPROTO.UDP ? "udp" : "tcp";
  if (![IPPROTO.TCP, IPPROTO.UDP, IPPROTO.MPTCP].includes(protocolNumber as 6)) {
    throw new UnusableSocket(`not a TCP or UDP socket (protocol ${protocolNumber})`);
  }
  const name = socketName(fd);
  if (!name) throw new UnusableSocket("not an IPv4 or IPv6 socket");
  return {
    fd,
    inode,
    pid,
    protocol,
    mptcp: protocolNumber === IPPROTO.MPTCP,
    family: name.family,
    address: formatIp(name.address),
    port: name.port,
    netnsInode: socketNetnsInode(fd),
  };
}

function socketInode(fd: number): number {
  const link = Deno.readLinkSync(`/proc/self/fd/${fd}`);
  const match = /^socket:\[([0-9]+)\]$/.exec(link);
  if (!match) throw new UnusableSocket(`not a socket (${link})`);
  return Number(match[1]);
}

function socketName(fd: number) {
  const address = new Uint8Array(128);
  const length = new Uint32Array([128]);
  check(`getsockname(${fd})`, libc().getsockname(fd, address, length));
  return decodeSockaddr(address.subarray(0, length[0]));
}

// SIOCGSKNS opens the socket's netns; its nsfs inode identifies the namespace.
function socketNetnsInode(fd: number): number {
  const netnsFd = check(`ioctl(${fd}, SIOCGSKNS)`, libc().ioctl(fd, BigInt(SIOCGSKNS), 0n));
  try {
    return Number(Deno.statSync(`/proc/self/fd/${netnsFd}`).ino);
  } finally {
    libc().close(netnsFd);
  }
}
