/**
 * Pure decoders for the kernel's socket tables (`/proc/net/{tcp,tcp6,udp,udp6}`),
 * `struct sockaddr_in{,6}`, and IP address text. No I/O: the listener
 * provider reads the files and hands the text here.
 *
 * @module
 */

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
 * const rows = parseProcNet(Deno.readTextFileSync("/proc/net/tcp"));
 * console.log(rows.filter((r) => r.state === TCP_STATE.LISTEN).length);
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
 * Parses IPv4 dotted-quad or IPv6 text (with `::` and an optional dotted
 * IPv4 tail) into 4 or 16 bytes; `undefined` if it is neither.
 *
 * @example
 * ```ts
 * parseIp("::1"); // Uint8Array(16) [0, …, 1]
 * parseIp("127.0.0.1"); // Uint8Array(4) [127, 0, 0, 1]
 * ```
 */
export function parseIp(text: string): Uint8Array | undefined {
  return text.includes(":") ? parseIp6(text) : parseIp4(text);
}

function parseIp4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p))) return undefined;
  const bytes = parts.map(Number);
  return bytes.every((b) => b <= 255) ? Uint8Array.from(bytes) : undefined;
}

function parseIp6(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const words = (parts: string[]): number[] | undefined => {
    const out: number[] = [];
    for (const [i, part] of parts.entries()) {
      const v4 = i === parts.length - 1 && part.includes(".") ? parseIp4(part) : undefined;
      if (v4) out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      else if (/^[0-9a-fA-F]{1,4}$/.test(part)) out.push(parseInt(part, 16));
      else return undefined;
    }
    return out;
  };
  const [front, back] = [words(head), words(tail)];
  if (!front || !back) return undefined;
  const missing = 8 - front.length - back.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...front, ...Array(halves.length === 2 ? missing : 0).fill(0), ...back];
  const bytes = new Uint8Array(16);
  all.forEach((w, i) => new DataView(bytes.buffer).setUint16(i * 2, w));
  return bytes;
}

/**
 * Formats 4 or 16 address bytes as text; IPv6 in RFC 5952 form (lowercase,
 * longest zero run compressed), so equal addresses format equally.
 *
 * @example
 * ```ts
 * formatIp(parseIp("0:0:0:0:0:0:0:1")!); // "::1"
 * ```
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const words = Array.from({ length: 8 }, (_, i) => view.getUint16(i * 2));
  let [bestStart, bestLength] = [-1, 1];
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && words[start + length] === 0) length++;
    if (length > bestLength) [bestStart, bestLength] = [start, length];
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(":");
  const before = hex.slice(0, bestStart).join(":");
  const after = hex.slice(bestStart + bestLength).join(":");
  return `${before}::${after}`;
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
