/**
 * The `mptcp_pm` generic netlink vocabulary (uapi linux/mptcp.h, mptcp_pm.h):
 * commands, attributes, endpoint flags, and the pure encoding of an endpoint
 * as a nested MPTCP_PM_ATTR_ADDR. The IPv4 address is network order, the port
 * host order.
 *
 * @module
 */
import {
  attr,
  attrMap,
  attrNested,
  attrS32,
  attrU16,
  attrU32,
  attrU8,
  readS32,
  readU16,
  readU32,
  readU8,
} from "./codec.ts";
import { addressBytes, AF, formatAddress, type InetFamily } from "../../resources/common/inet.ts";

/** Family name registered by net/mptcp/pm_netlink.c. */
export const MPTCP_PM_FAMILY = "mptcp_pm";

/** `MPTCP_PM_CMD_*`. */
export const MPTCP_PM_CMD = {
  ADD_ADDR: 1,
  DEL_ADDR: 2,
  GET_ADDR: 3,
  FLUSH_ADDRS: 4,
  SET_LIMITS: 5,
  GET_LIMITS: 6,
  SET_FLAGS: 7,
} as const;

/** `MPTCP_PM_ATTR_*` (top level). */
export const MPTCP_PM_ATTR = { ADDR: 1, RCV_ADD_ADDRS: 2, SUBFLOWS: 3 } as const;

/** `MPTCP_PM_ADDR_ATTR_*` (inside MPTCP_PM_ATTR_ADDR). */
export const MPTCP_PM_ADDR_ATTR = {
  FAMILY: 1,
  ID: 2,
  ADDR4: 3,
  ADDR6: 4,
  PORT: 5,
  FLAGS: 6,
  IF_IDX: 7,
} as const;

/**
 * `MPTCP_PM_ADDR_FLAG_*` bits by name. `laminar` is bit 5, new in Linux 6.18;
 * `implicit` is set by the kernel only, for endpoints it creates itself.
 */
export const ENDPOINT_FLAG_BITS = {
  signal: 1,
  subflow: 2,
  backup: 4,
  fullmesh: 8,
  implicit: 16,
  laminar: 32,
} as const;

/** A named endpoint flag. */
export type EndpointFlag = keyof typeof ENDPOINT_FLAG_BITS;

/** An MPTCP endpoint as the in-kernel path manager holds it. */
export interface MptcpEndpoint {
  /** 1..255; the kernel picks one when an added endpoint has none. */
  id: number;
  address: string;
  family: InetFamily;
  port?: number;
  /** Flag names; bits this code does not know appear as hex, e.g. `0x40`. */
  flags: string[];
  ifindex?: number;
}

/** An endpoint to add: like `MptcpEndpoint` but the id is optional. */
export type NewMptcpEndpoint = Omit<MptcpEndpoint, "id" | "family" | "flags"> & {
  id?: number;
  family?: InetFamily;
  flags?: readonly string[];
};

/** The in-kernel path manager's per-netns limits. */
export interface MptcpLimits {
  /** Extra subflows per connection (MPTCP_PM_ATTR_SUBFLOWS). */
  subflows: number;
  /** ADD_ADDRs accepted per connection (MPTCP_PM_ATTR_RCV_ADD_ADDRS). */
  addAddrAccepted: number;
}

/**
 * Flag names to the flag word; throws `RangeError` on an unknown name.
 *
 * @example A backup subflow endpoint
 * ```ts
 * flagsToBits(["subflow", "backup"]); // 6
 * ```
 */
export function flagsToBits(flags: readonly string[]): number {
  let bits = 0;
  for (const name of flags) {
    const bit = (ENDPOINT_FLAG_BITS as Record<string, number>)[name];
    if (bit === undefined) throw new RangeError(`unknown MPTCP endpoint flag "${name}"`);
    bits |= bit;
  }
  return bits;
}

/**
 * The flag word to names, in bit order; unknown bits as hex strings.
 *
 * @example Reading a dump
 * ```ts
 * bitsToFlags(6); // ["subflow", "backup"]
 * ```
 */
export function bitsToFlags(bits: number): string[] {
  const names: string[] = [];
  let rest = bits;
  for (const [name, bit] of Object.entries(ENDPOINT_FLAG_BITS)) {
    if (rest & bit) names.push(name);
    rest &= ~bit;
  }
  for (let bit = 1; rest !== 0 && bit <= 0x8000_0000; bit *= 2) {
    if (rest & bit) names.push(`0x${bit.toString(16)}`);
    rest = (rest & ~bit) >>> 0;
  }
  return names;
}

function familyOf(ep: { address: string; family?: InetFamily }): InetFamily {
  return ep.family ?? (ep.address.includes(":") ? "ipv6" : "ipv4");
}

/**
 * Encodes an endpoint as a nested MPTCP_PM_ATTR_ADDR. Fields left undefined
 * are not sent, so the same encoder serves ADD_ADDR, DEL_ADDR (id only) and
 * SET_FLAGS.
 *
 * @example The address of a subflow endpoint
 * ```ts
 * const nested = encodeEndpoint({ address: "10.1.3.1", flags: ["subflow"] });
 * ```
 */
export function encodeEndpoint(ep: Partial<NewMptcpEndpoint>): Uint8Array {
  const A = MPTCP_PM_ADDR_ATTR;
  const parts: Uint8Array[] = [];
  if (ep.address !== undefined) {
    const family = familyOf({ address: ep.address, family: ep.family });
    parts.push(attrU16(A.FAMILY, AF[family]));
    parts.push(attr(family === "ipv4" ? A.ADDR4 : A.ADDR6, addressBytes(ep.address, family)));
  }
  if (ep.id !== undefined) parts.push(attrU8(A.ID, ep.id));
  if (ep.port !== undefined) parts.push(attrU16(A.PORT, ep.port));
  if (ep.flags !== undefined) parts.push(attrU32(A.FLAGS, flagsToBits(ep.flags)));
  if (ep.ifindex !== undefined) parts.push(attrS32(A.IF_IDX, ep.ifindex));
  return attrNested(MPTCP_PM_ATTR.ADDR, parts);
}

/**
 * Decodes the attributes of one GET_ADDR reply into an endpoint.
 *
 * @example Walking a dump
 * ```ts
 * const replies = [{ attrs: encodeEndpoint({ address: "10.1.2.1", id: 1, flags: ["subflow"] }) }];
 * const endpoints = replies.map((r) => decodeEndpoint(r.attrs)); // [{ id: 1, address: "10.1.2.1", … }]
 * ```
 */
export function decodeEndpoint(attrs: Uint8Array): MptcpEndpoint {
  const nested = attrMap(attrs).get(MPTCP_PM_ATTR.ADDR);
  if (!nested) throw new RangeError("mptcp_pm reply lacks MPTCP_PM_ATTR_ADDR");
  const f = attrMap(nested);
  const A = MPTCP_PM_ADDR_ATTR;
  const raw = f.get(A.ADDR4) ?? f.get(A.ADDR6);
  const afamily = f.has(A.FAMILY) ? readU16(f.get(A.FAMILY)!) : raw?.length === 16 ? 10 : 2;
  const port = f.has(A.PORT) ? readU16(f.get(A.PORT)!) : 0;
  const ifindex = f.has(A.IF_IDX) ? readS32(f.get(A.IF_IDX)!) : 0;
  return {
    id: f.has(A.ID) ? readU8(f.get(A.ID)!) : 0,
    address: raw ? formatAddress(raw) : "",
    family: afamily === AF.ipv6 ? "ipv6" : "ipv4",
    ...(port ? { port } : {}),
    flags: bitsToFlags(f.has(A.FLAGS) ? readU32(f.get(A.FLAGS)!) : 0),
    ...(ifindex ? { ifindex } : {}),
  };
}

/**
 * Encodes the SET_LIMITS attributes; a limit left undefined keeps its value.
 *
 * @example Allowing two extra subflows
 * ```ts
 * const attrs = encodeLimits({ subflows: 2 });
 * ```
 */
export function encodeLimits(limits: Partial<MptcpLimits>): Uint8Array[] {
  const parts: Uint8Array[] = [];
  if (limits.addAddrAccepted !== undefined) {
    parts.push(attrU32(MPTCP_PM_ATTR.RCV_ADD_ADDRS, limits.addAddrAccepted));
  }
  if (limits.subflows !== undefined) parts.push(attrU32(MPTCP_PM_ATTR.SUBFLOWS, limits.subflows));
  return parts;
}

/**
 * Decodes a GET_LIMITS reply.
 *
 * @example Reading the current limits
 * ```ts
 * import { concatBytes } from "./attrs.ts";
 *
 * const reply = { attrs: concatBytes(encodeLimits({ subflows: 2, addAddrAccepted: 1 })) };
 * const { subflows } = decodeLimits(reply.attrs); // 2
 * ```
 */
export function decodeLimits(attrs: Uint8Array): MptcpLimits {
  const byType = attrMap(attrs);
  const read = (type: number) => (byType.has(type) ? readU32(byType.get(type)!) : 0);
  return {
    subflows: read(MPTCP_PM_ATTR.SUBFLOWS),
    addAddrAccepted: read(MPTCP_PM_ATTR.RCV_ADD_ADDRS),
  };
}
