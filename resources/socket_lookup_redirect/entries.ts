/**
 * Bindings → LPM trie entries, in the exact key layout of bpf/sk_lookup.bpf.c:
 * `{ u32 prefixlen; u8 protocol; u8 family (4|6); u16 port (host order, 0 = all); u8 addr[16] }`.
 * Pure: keys are hex strings so they diff and serialise as plain JSON.
 *
 * @module
 */
import { parseCidr, toMapped } from "../common/cidr.ts";
import { formatAddress } from "../common/inet.ts";
import type { Binding } from "./schema.ts";

/** Bytes in a binding key. */
export const KEY_SIZE = 24;
/** Entries the kernel map holds at most (max_entries in the C source). */
export const MAX_ENTRIES = 65536;
/** Destinations the SOCKHASH holds at most. */
export const MAX_DESTINATIONS = 1024;
const PROTO = { tcp: 6, udp: 17 } as const;
const HEADER_BITS = 32; // protocol + family + port precede the address in the key

/** One map entry a binding produces. */
export interface Entry {
  /** The LPM trie key, hex. */
  key: string;
  /** The destination id (SOCKHASH key) it maps to. */
  destId: number;
  /** Index of the binding in the spec that produced it. */
  binding: number;
  /** LPM prefix length, for precedence ordering. */
  prefixlen: number;
  /** The destination opted in to falling through while it has no socket. */
  fallthrough?: true;
}

/** Bit of a binding value marking a fall-through destination (DEST_FALLTHROUGH in sockform.h). */
export const FALLTHROUGH = 1 << 16;

/**
 * The u32 the bindings map holds for an entry: its destination id, plus the fall-through bit.
 *
 * @example A fall-through destination with id 3
 * ```ts
 * entryValue({ key: "00", destId: 3, binding: 0, prefixlen: 152, fallthrough: true }); // 65539
 * ```
 */
export function entryValue(e: Entry): number {
  return e.fallthrough ? e.destId | FALLTHROUGH : e.destId;
}

/** Destination ids: labels sorted, numbered from 0 (stable for a given label set). */
export function destinationIds(labels: string[]): Map<string, number> {
  return new Map([...labels].sort().map((l, i) => [l, i]));
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

// Keys are built for every binding on every plan: a table beats toString per byte.
function hex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]];
  return out;
}

/** Encodes one key. */
export function encodeKey(
  protocol: "tcp" | "udp",
  family: 4 | 6,
  port: number,
  addr: Uint8Array,
  length: number,
): string {
  return keyHeader(protocol, family, port, length) + hex(addr);
}

/** The first 8 key bytes as hex: prefix bits (u32 LE), protocol, family, port (u16 LE). */
function keyHeader(protocol: "tcp" | "udp", family: 4 | 6, port: number, length: number): string {
  const bits = HEADER_BITS + length;
  return HEX[bits & 0xff] + HEX[(bits >>> 8) & 0xff] + HEX[(bits >>> 16) & 0xff] +
    HEX[bits >>> 24] +
    HEX[PROTO[protocol]] + HEX[family] + HEX[port & 0xff] + HEX[port >>> 8];
}

/** Decodes a key for plans and `show`: `tcp 192.0.2.0/24 port 80`. */
export function describeKey(keyHex: string): string {
  const bytes = new Uint8Array(keyHex.match(/../g)!.map((h) => parseInt(h, 16)));
  const v = new DataView(bytes.buffer);
  const bits = v.getUint32(0, true) - HEADER_BITS;
  const proto = bytes[4] === 6 ? "tcp" : bytes[4] === 17 ? "udp" : `proto ${bytes[4]}`;
  const port = v.getUint16(6, true);
  const addr = bytes.subarray(8, 24);
  const prefix = bytes[5] === 4 && bits >= 96
    ? `${formatAddress(addr.subarray(12))}/${bits - 96}`
    : `${formatAddress(addr)}/${bits}`;
  return `${proto} ${prefix} ${port === 0 ? "all ports" : `port ${port}`}`;
}

function portsOf(ports: Binding["ports"]): number[] {
  if (ports === "all") return [0];
  if (typeof ports === "number") return [ports];
  return Array.from({ length: ports[1] - ports[0] + 1 }, (_, i) => ports[0] + i);
}

/**
 * Expands bindings into map entries (a port range becomes one entry per port).
 *
 * @example
 * ```ts
 * const ids = destinationIds(["nginx"]);
 * bindingEntries([{ protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "nginx" }], ids);
 * ```
 */
export function bindingEntries(
  bindings: Binding[],
  ids: Map<string, number>,
  fallthrough: ReadonlySet<string> = new Set(),
): Entry[] {
  const out: Entry[] = [];
  bindings.forEach((b, index) => {
    const cidr = parseCidr(b.prefix);
    if ("error" in cidr) throw new Error(cidr.error); // the schema already refused it
    const { addr, length } = toMapped(cidr);
    const addrHex = hex(addr);
    const family = cidr.family === "ipv4" ? 4 : 6;
    for (const port of portsOf(b.ports)) {
      const key = keyHeader(b.protocol, family, port, length) + addrHex;
      const e: Entry = {
        key,
        destId: ids.get(b.to)!,
        binding: index,
        prefixlen: HEADER_BITS + length,
      };
      if (fallthrough.has(b.to)) e.fallthrough = true;
      out.push(e);
    }
  });
  return out;
}

/**
 * Orders keys so the most specific go first: adding in this order and deleting
 * in this order means a broader entry never catches traffic meant for a
 * narrower one mid-apply ("add the most specific first, remove the least
 * specific last").
 */
export function bySpecificity(keys: string[]): string[] {
  const rank = (k: string) => {
    const v = new DataView(
      new Uint8Array(k.slice(0, 16).match(/../g)!.map((h) => parseInt(h, 16))).buffer,
    );
    const portBonus = v.getUint16(6, true) === 0 ? 0 : 1000; // specific ports are looked up first
    return portBonus + v.getUint32(0, true);
  };
  // Ranked once per key, not once per comparison: plans sort up to 65,536 keys.
  return keys.map((k) => ({ k, r: rank(k) }))
    .sort((a, b) => b.r - a.r || (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
    .map((x) => x.k);
}

/** The order apply edits the bindings map in (keys in each list, in order). */
export interface BindingEdits {
  /** Removals that must go before the adds, or the adds would not fit (not hitless). */
  removeFirst: string[];
  /** Adds and re-points, most specific first. */
  upsert: string[];
  /** The other removals, most specific first, so the least specific leaves last. */
  removeLast: string[];
}

/**
 * Orders the edits from `have` (key → value) to `want`. The hitless order adds
 * before it removes, which needs room for both; when `have` plus the adds
 * exceed `capacity`, just enough removals go first for the adds to fit.
 *
 * @example Is the edit hitless at this size?
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function hitless(have: Record<string, number>, want: ReadonlyMap<string, number>): boolean {
 *   const { removeFirst } = bindingEdits(have, want);
 *   return removeFirst.length === 0;
 * }
 * ```
 */
export function bindingEdits(
  have: Record<string, number>,
  want: ReadonlyMap<string, number>,
  capacity = MAX_ENTRIES,
): BindingEdits {
  const upsert = bySpecificity([...want.keys()].filter((k) => have[k] !== want.get(k)));
  const removals = bySpecificity(Object.keys(have).filter((k) => !want.has(k)));
  const adds = upsert.filter((k) => have[k] === undefined).length;
  const overflow = Math.max(0, Object.keys(have).length + adds - capacity);
  return { removeFirst: removals.slice(0, overflow), upsert, removeLast: removals.slice(overflow) };
}

/** Hex key → bytes, for the driver. */
export function keyBytes(keyHex: string): Uint8Array {
  const out = new Uint8Array(keyHex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(keyHex.substr(i * 2, 2), 16);
  return out;
}

/** Bytes → hex key, for the driver. */
export function keyHex(bytes: Uint8Array): string {
  return hex(bytes);
}
