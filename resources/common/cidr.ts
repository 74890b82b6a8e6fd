/**
 * CIDR prefixes for specs: parsing, host-bit checks with a suggestion, and
 * family-independent 16-byte forms (IPv4 as ::ffff:a.b.c.d).
 *
 * @module
 */
import { formatAddress, type InetFamily, parseIPv4, parseIPv6 } from "./inet.ts";

/**
 * A parsed prefix. `bytes` are network order (4 or 16 long). Parses are
 * memoised and shared between callers: treat every field as read-only.
 */
export interface Cidr {
  readonly family: InetFamily;
  readonly bytes: Uint8Array;
  readonly length: number;
  /** Canonical text, e.g. `10.0.0.0/8`, `2001:db8::/32`. */
  readonly text: string;
}

/**
 * Parses `a.b.c.d/n` or `x::/n` (a bare address means a host prefix). Returns
 * an error message instead of throwing, so schemas can attach a field path.
 *
 * @example
 * ```ts
 * parseCidr("10.0.0.1/8"); // { error: "host bits set in 10.0.0.1/8 (did you mean 10.0.0.0/8?)" }
 * ```
 */
export function parseCidr(input: string): Cidr | { error: string } {
  let parsed = memo.get(input);
  if (!parsed) {
    parsed = parseCidrUncached(input);
    // Schemas parse every prefix, then entry expansion parses it again.
    if (memo.size > 200_000) memo.clear();
    memo.set(input, parsed);
  }
  return parsed;
}

const memo = new Map<string, Cidr | { error: string }>();

function parseCidrUncached(input: string): Cidr | { error: string } {
  const [addr, len, extra] = input.split("/");
  if (extra !== undefined) return { error: `not a prefix: ${input}` };
  const bytes = parseIPv4(addr) ?? parseIPv6(addr);
  if (!bytes) return { error: `not an IPv4 or IPv6 prefix: ${input}` };
  const family: InetFamily = bytes.length === 4 ? "ipv4" : "ipv6";
  const max = bytes.length * 8;
  const length = len === undefined ? max : Number(len);
  if (!/^\d+$/.test(len ?? String(max)) || length > max) {
    return { error: `prefix length must be 0–${max} in ${input}` };
  }
  const masked = length === max ? bytes : maskBytes(bytes, length);
  const hostBitsClear = masked === bytes || masked.every((b, i) => b === bytes[i]);
  // parseIPv4 accepts only canonical dotted quads, so a clean IPv4 prefix is
  // its own canonical text: large stacks skip formatting tens of thousands.
  const canonical = family === "ipv4" && hostBitsClear ? addr : formatAddress(masked);
  const text = `${canonical}/${length}`;
  if (!hostBitsClear) {
    return { error: `host bits set in ${input} (did you mean ${text}?)` };
  }
  return { family, bytes: masked, length, text };
}

/** Zeroes the bits after `length`. */
export function maskBytes(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, length - i * 8));
    out[i] &= keep === 8 ? 0xff : (0xff << (8 - keep)) & 0xff;
  }
  return out;
}

/** The prefix as 16 bytes + bit length, IPv4 mapped into ::ffff:0:0/96. */
export function toMapped(cidr: Cidr): { addr: Uint8Array; length: number } {
  if (cidr.family === "ipv6") return { addr: cidr.bytes, length: cidr.length };
  const addr = new Uint8Array(16);
  addr[10] = 0xff;
  addr[11] = 0xff;
  addr.set(cidr.bytes, 12);
  return { addr, length: 96 + cidr.length };
}

/** True when `inner` lies inside `outer` (same family). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || inner.length < outer.length) return false;
  const a = maskBytes(inner.bytes, outer.length);
  return a.every((b, i) => b === outer.bytes[i]);
}
