/**
 * Pure decoders for the kernel's socket tables (`/proc/net/{tcp,tcp6,udp,udp6}`)
 * and `struct sockaddr_in{,6}`. No I/O: the listener provider reads the files
 * and hands the text here. Address text goes through resources/common/inet.ts.
 *
 * @module
 */
import { parseIPv4, parseIPv6 } from "../../resources/common/inet.ts";

export { formatAddress as formatIp } from "../../resources/common/inet.ts";

/** One row of a `/proc/net/{tcp,udp}{,6}` table. */
export interface ProcNetSocket {
  /** Local address, 4 bytes (tcp/udp) or 16 bytes (tcp6/udp6), network order. */
  local: Uint8Array;
  localPort: number;
  remote: Uint8Array;
  remotePort: number;
  /** TCP state number: 0x0A is LISTEN; unconnected UDP sockets show 0x07 (CLOSE). */
  state: number;
  /** The socket's inode, as `/proc/<pid>/fd/*` links name it: `socket:[inode]`. */
  inode: number;
}

/** TCP states as `/proc/net/tcp` prints them. */
export const TCP_STATE = { ESTABLISHED: 0x01, CLOSE: 0x07, LISTEN: 0x0a } as const;

/**
 * Parses a `/proc/net/{tcp,tcp6,udp,udp6}` table. Addresses there are printed
 * as 32-bit words in host (little-endian) order, which this undoes.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function listening(): number {
 *   const rows = parseProcNet(Deno.readTextFileSync("/proc/net/tcp"));
 *   return rows.filter((r) => r.state === TCP_STATE.LISTEN).length;
 * }
 * ```
 */
export function parseProcNet(text: string): ProcNetSocket[] {
  const rows: ProcNetSocket[] = [];
  for (const line of text.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    const [localHex, localPort] = fields[1].split(":");
    const [remoteHex, remotePort] = fields[2].split(":");
    rows.push({
      local: decodeProcAddress(localHex),
      localPort: parseInt(localPort, 16),
      remote: decodeProcAddress(remoteHex),
      remotePort: parseInt(remotePort, 16),
      state: parseInt(fields[3], 16),
      inode: Number(fields[9]),
    });
  }
  return rows;
}

function decodeProcAddress(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  const view = new DataView(bytes.buffer);
  for (let word = 0; word < hex.length / 8; word++) {
    view.setUint32(word * 4, parseInt(hex.slice(word * 8, word * 8 + 8), 16), true);
  }
  return bytes;
}

/**
 * Parses IPv4 or IPv6 text into 4 or 16 network-order bytes; `undefined` if it is neither.
 *
 * @example
 * ```ts
 * parseIp("::1"); // Uint8Array(16) [0, …, 1]
 * parseIp("127.0.0.1"); // Uint8Array(4) [127, 0, 0, 1]
 * ```
 */
export function parseIp(text: string): Uint8Array | undefined {
  return parseIPv4(text) ?? parseIPv6(text);
}

/** `::ffff:a.b.c.d`, the IPv6 form of an IPv4 address that dual-stack sockets use. */
export function v4Mapped(v4: Uint8Array): Uint8Array {
  return Uint8Array.from([...Array(10).fill(0), 0xff, 0xff, ...v4]);
}

/** True when every byte is zero: the wildcard `0.0.0.0` or `::`. */
export function isWildcard(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0);
}

/** True when two addresses have the same length and bytes. */
export function sameIp(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** A decoded `struct sockaddr_in` or `struct sockaddr_in6`. */
export interface InetSockaddr {
  family: "ipv4" | "ipv6";
  address: Uint8Array;
  port: number;
}

/** Address family numbers from `<sys/socket.h>`. */
export const AF = { INET: 2, INET6: 10 } as const;

/**
 * Decodes a `sockaddr_in` / `sockaddr_in6` as getsockname(2) fills it;
 * `undefined` for any other family.
 *
 * @example
 * ```ts
 * const sa = decodeSockaddr(Uint8Array.from([2, 0, 0x1f, 0x90, 127, 0, 0, 1]));
 * console.log(sa?.port); // 8080
 * ```
 */
export function decodeSockaddr(bytes: Uint8Array): InetSockaddr | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const family = view.getUint16(0, true);
  const port = view.getUint16(2);
  if (family === AF.INET) return { family: "ipv4", address: bytes.slice(4, 8), port };
  if (family === AF.INET6) return { family: "ipv6", address: bytes.slice(8, 24), port };
  return undefined;
}
