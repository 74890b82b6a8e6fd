/**
 * IPv4 / IPv6 text ↔ network-order bytes, shared by specs (resources/) and netlink.
 * Pure. IPv6 text is written the way inet_ntop(3) writes it (lower case, the
 * longest run of two or more zero groups as `::`), so it compares equal to
 * what iproute2 prints.
 *
 * @module
 */

/** The address families netlink attributes carry. */
export type InetFamily = "ipv4" | "ipv6";

/** AF_INET / AF_INET6 as the kernel numbers them. */
export const AF = { ipv4: 2, ipv6: 10 } as const;

/**
 * The family of an address in text form, or undefined when it is neither.
 *
 * @example Telling the families apart
 * ```ts
 * inetFamily("10.1.2.1"); // "ipv4"
 * inetFamily("fd00::1"); // "ipv6"
 * ```
 */
export function inetFamily(text: string): InetFamily | undefined {
  if (parseIPv4(text)) return "ipv4";
  if (parseIPv6(text)) return "ipv6";
  return undefined;
}

/**
 * Dotted-quad text to 4 network-order bytes; undefined when malformed.
 *
 * @example Parsing a lab address
 * ```ts
 * parseIPv4("10.1.2.1"); // Uint8Array [10, 1, 2, 1]
 * ```
 */
export function parseIPv4(text: string): Uint8Array | undefined {
  // A hand-rolled scan, no regex or intermediate arrays: large stacks parse
  // tens of thousands of these. Canonical only: no leading zeros, 4 octets.
  const out = new Uint8Array(4);
  let octet = 0;
  let digits = 0;
  let index = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : DOT;
    if (c === DOT) {
      if (digits === 0 || index > 3) return undefined;
      out[index++] = octet;
      octet = 0;
      digits = 0;
    } else if (c >= ZERO && c <= ZERO + 9) {
      if (digits === 1 && octet === 0) return undefined; // leading zero
      octet = octet * 10 + (c - ZERO);
      if (++digits > 3 || octet > 255) return undefined;
    } else return undefined;
  }
  return index === 4 ? out : undefined;
}

const DOT = 0x2e;
const ZERO = 0x30;

function parseGroups(text: string): number[] | undefined {
  if (text === "") return [];
  const groups: number[] = [];
  const parts = text.split(":");
  for (const [i, part] of parts.entries()) {
    if (i === parts.length - 1 && part.includes(".")) {
      const v4 = parseIPv4(part);
      if (!v4) return undefined;
      groups.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
      groups.push(parseInt(part, 16));
    } else {
      return undefined;
    }
  }
  return groups;
}

/**
 * IPv6 text (with `::` and an optional dotted-quad tail) to 16 network-order
 * bytes; undefined when malformed. Zone ids (`%eth0`) are not accepted.
 *
 * @example Parsing a unique-local address
 * ```ts
 * parseIPv6("fd00::1")?.at(15); // 1
 * ```
 */
export function parseIPv6(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = parseGroups(halves[0]);
  const tail = halves.length === 2 ? parseGroups(halves[1]) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array(missing).fill(0), ...tail];
  return new Uint8Array(groups.flatMap((g) => [g >> 8, g & 0xff]));
}

/**
 * Address text to network-order bytes for the given family; throws a
 * `RangeError` naming the text when it does not parse.
 *
 * @example Encoding an endpoint address
 * ```ts
 * const bytes = addressBytes("10.1.2.1", "ipv4");
 * ```
 */
export function addressBytes(text: string, family: InetFamily): Uint8Array {
  const bytes = family === "ipv4" ? parseIPv4(text) : parseIPv6(text);
  if (!bytes) throw new RangeError(`not an ${family} address: ${JSON.stringify(text)}`);
  return bytes;
}

/**
 * Network-order bytes to text: 4 bytes as a dotted quad, 16 bytes as IPv6.
 *
 * @example Printing an ADDR4 attribute
 * ```ts
 * formatAddress(new Uint8Array([10, 1, 2, 1])); // "10.1.2.1"
 * ```
 */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return [...bytes].join(".");
  if (bytes.length !== 16) throw new RangeError(`address of ${bytes.length} bytes`);
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i] << 8) | bytes[2 * i + 1]);
  // inet_ntop keeps the dotted tail of IPv4-mapped addresses.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${[...bytes.subarray(12)].join(".")}`;
  }
  const [start, length] = longestZeroRun(groups);
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (length < 2) return hex(groups);
  return `${hex(groups.slice(0, start))}::${hex(groups.slice(start + length))}`;
}

function longestZeroRun(groups: number[]): [number, number] {
  let best: [number, number] = [-1, 0];
  let runStart = -1;
  for (let i = 0; i <= groups.length; i++) {
    if (i < groups.length && groups[i] === 0) {
      if (runStart < 0) runStart = i;
    } else if (runStart >= 0) {
      if (i - runStart > best[1]) best = [runStart, i - runStart];
      runStart = -1;
    }
  }
  return best;
}

/**
 * The canonical text of an address (so `FD00:0::1` and `fd00::1` compare
 * equal), or the input unchanged when it is not an address.
 *
 * @example Normalising user input
 * ```ts
 * canonicalAddress("FD00:0:0::1"); // "fd00::1"
 * ```
 */
export function canonicalAddress(text: string): string {
  const bytes = parseIPv4(text) ?? parseIPv6(text);
  return bytes ? formatAddress(bytes) : text;
}
