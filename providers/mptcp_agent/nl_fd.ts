/**
 * The few raw netlink socket calls the agent core needs beyond
 * `netlink/genl.ts`: a socket of any netlink protocol created inside a netns,
 * integer socket options, and one receive that reports EAGAIN / ENOBUFS as
 * values instead of throwing (a multicast listener must see ENOBUFS, which
 * means "the kernel dropped messages", and go on).
 *
 * @module
 */
import { KernelCallError } from "../system/errno.ts";
import { check, errno, libc, strerror } from "../libc/ffi.ts";
import { inNetns } from "../system/netns.ts";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SOL_NETLINK = 270;
export const SO = { RCVBUF: 8, RCVTIMEO: 20, RCVBUFFORCE: 33 } as const;
export const NETLINK_ADD_MEMBERSHIP = 1;
const MSG_TRUNC = 0x20;
const MSG_DONTWAIT = 0x40;
const EINTR = 4;
const EAGAIN = 11;
export const ENOBUFS = 105;

/**
 * Opens an AF_NETLINK socket of `protocol` in `netns` (the socket keeps that
 * netns for life), bound with a kernel-assigned port id. Caller closes.
 *
 * @example A sock_diag socket in a lab netns
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function diagSocket(): void {
 *   const fd = openNetlink(4, "/run/netns/lab");
 * }
 * ```
 */
export function openNetlink(protocol: number, netns?: string): number {
  const fd = inNetns(netns, () =>
    check(
      `socket(AF_NETLINK, ${protocol})`,
      libc().socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol),
    ));
  try {
    const addr = new Uint8Array(12);
    new DataView(addr.buffer).setUint16(0, AF_NETLINK, true);
    check("bind(AF_NETLINK)", libc().bind(fd, addr, addr.length));
  } catch (err) {
    libc().close(fd);
    throw err;
  }
  return fd;
}

/**
 * setsockopt with an int value.
 *
 * @example Force an 8 MB receive buffer
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function bigBuffer(fd: number): void {
 *   setIntOption(fd, SOL_SOCKET, SO.RCVBUFFORCE, 8 << 20, "setsockopt(SO_RCVBUFFORCE)");
 * }
 * ```
 */
export function setIntOption(fd: number, level: number, name: number, value: number, call: string) {
  const v = new Uint8Array(new Int32Array([value]).buffer);
  check(call, libc().setsockopt(fd, level, name, v, 4));
}

/**
 * getsockopt of an int value.
 *
 * @example The receive buffer the kernel really uses (it doubles the request)
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function receiveBuffer(fd: number): number {
 *   return getIntOption(fd, SOL_SOCKET, SO.RCVBUF);
 * }
 * ```
 */
export function getIntOption(fd: number, level: number, name: number): number {
  const v = new Int32Array(1);
  const len = new Uint32Array([4]);
  const rc = libc().getsockopt(
    fd,
    level,
    name,
    new Uint8Array(v.buffer),
    new Uint8Array(len.buffer),
  );
  check("getsockopt", rc);
  return v[0];
}

/** Sets a receive timeout so a blocking receive cannot hang. */
export function setReceiveTimeout(fd: number, seconds: number): void {
  const tv = new Uint8Array(new BigInt64Array([BigInt(seconds), 0n]).buffer);
  check("setsockopt(SO_RCVTIMEO)", libc().setsockopt(fd, SOL_SOCKET, SO.RCVTIMEO, tv, 16));
}

/** Sends one message to the kernel (port id 0). */
export function sendToKernel(fd: number, message: Uint8Array<ArrayBuffer>, call: string): void {
  const kernel = new Uint8Array(12);
  new DataView(kernel.buffer).setUint16(0, AF_NETLINK, true);
  const sent = check(
    `sendto(${call})`,
    libc().sendto(fd, message, BigInt(message.length), 0, kernel, kernel.length),
  );
  if (sent !== message.length) {
    throw new KernelCallError(`sendto(${call})`, 5, "short netlink send");
  }
}

/** What one receive gave: a datagram, nothing queued, or the overflow mark. */
export type ReceiveResult =
  | { kind: "data"; bytes: Uint8Array }
  | { kind: "empty" }
  | { kind: "overflow" };

/**
 * Receives one datagram into `buffer` (copied out). `wait: false` uses
 * MSG_DONTWAIT and gives `empty` when nothing is queued. ENOBUFS (the kernel
 * dropped messages for this socket) gives `overflow`; other errors throw.
 *
 * @example Draining a socket without blocking
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function drain(fd: number, buf: Uint8Array<ArrayBuffer>): void {
 *   for (let r = receive(fd, buf, false, "recv"); r.kind !== "empty"; r = receive(fd, buf, false, "recv")) {}
 * }
 * ```
 */
export function receive(
  fd: number,
  buffer: Uint8Array<ArrayBuffer>,
  wait: boolean,
  call: string,
): ReceiveResult {
  for (;;) {
    const flags = MSG_TRUNC | (wait ? 0 : MSG_DONTWAIT);
    const n = Number(libc().recvfrom(fd, buffer, BigInt(buffer.length), flags, null, null));
    if (n >= 0) {
      if (n > buffer.length) {
        throw new KernelCallError(`recv(${call})`, 90, `netlink datagram of ${n} bytes truncated`);
      }
      return { kind: "data", bytes: buffer.slice(0, n) };
    }
    const code = errno();
    if (code === EINTR) continue;
    if (code === EAGAIN) return { kind: "empty" };
    if (code === ENOBUFS) return { kind: "overflow" };
    throw new KernelCallError(`recv(${call})`, code, strerror(code));
  }
}
