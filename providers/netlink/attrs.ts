/**
 * Netlink attributes (`struct nlattr`): encoding with 4-byte padding, nested
 * attributes, and decoding of attribute streams and scalar values. Pure.
 * Integers are host order; values the kernel defines as network order (an
 * IPv4 address) are passed as byte strings.
 *
 * @module
 */

/** `nla_type` flag bit marking a nested attribute; strict policies require it. */
export const NLA_F_NESTED = 0x8000;
/** `nla_type` flag bit marking a network-order value. */
export const NLA_F_NET_BYTEORDER = 0x4000;
const NLA_TYPE_MASK = 0x3fff;

/** Size of `struct nlattr`. */
export const NLA_HDRLEN = 4;

/** True on little-endian hosts, which is what netlink's "host order" means here. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Rounds up to netlink's 4-byte alignment (NLMSG_ALIGN / NLA_ALIGN).
 *
 * @example Padding a 5-byte attribute
 * ```ts
 * align4(5); // 8
 * ```
 */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * A DataView over exactly the bytes of `bytes` (which may be a subarray).
 *
 * @example Reading a host-order u32
 * ```ts
 * const bytes = new Uint8Array(new Uint32Array([7]).buffer);
 * view(bytes).getUint32(0, HOST_LITTLE_ENDIAN); // 7
 * ```
 */
export function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Concatenates byte chunks.
 *
 * @example Joining two attributes
 * ```ts
 * const body = concatBytes([attrU32(1, 4), attrU32(2, 8)]);
 * ```
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Encodes one attribute with raw bytes as its value, padded to 4 bytes.
 *
 * @example An IPv4 address attribute (network order bytes)
 * ```ts
 * const a = attr(3, new Uint8Array([10, 1, 2, 1]));
 * ```
 */
export function attr(type: number, value: Uint8Array): Uint8Array<ArrayBuffer> {
  const len = NLA_HDRLEN + value.length;
  const out = new Uint8Array(align4(len));
  const dv = view(out);
  dv.setUint16(0, len, HOST_LITTLE_ENDIAN);
  dv.setUint16(2, type, HOST_LITTLE_ENDIAN);
  out.set(value, NLA_HDRLEN);
  return out;
}

function scalar(size: number, write: (dv: DataView) => void): Uint8Array {
  const bytes = new Uint8Array(size);
  write(view(bytes));
  return bytes;
}

/**
 * A u8 attribute.
 *
 * @example An endpoint id
 * ```ts
 * const value = attrU8(2, 7);
 * ```
 */
export function attrU8(type: number, value: number): Uint8Array {
  return attr(type, new Uint8Array([value]));
}

/**
 * A host-order u16 attribute.
 *
 * @example An address family
 * ```ts
 * const value = attrU16(1, 2);
 * ```
 */
export function attrU16(type: number, value: number): Uint8Array {
  return attr(type, scalar(2, (dv) => dv.setUint16(0, value, HOST_LITTLE_ENDIAN)));
}

/**
 * A host-order u32 attribute.
 *
 * @example Endpoint flags
 * ```ts
 * const value = attrU32(6, 2);
 * ```
 */
export function attrU32(type: number, value: number): Uint8Array {
  return attr(type, scalar(4, (dv) => dv.setUint32(0, value, HOST_LITTLE_ENDIAN)));
}

/**
 * A host-order s32 attribute.
 *
 * @example An interface index
 * ```ts
 * const value = attrS32(7, 3);
 * ```
 */
export function attrS32(type: number, value: number): Uint8Array {
  return attr(type, scalar(4, (dv) => dv.setInt32(0, value, HOST_LITTLE_ENDIAN)));
}

/**
 * A NUL-terminated string attribute (NLA_NUL_STRING).
 *
 * @example A family name
 * ```ts
 * const value = attrString(2, "nlctrl");
 * ```
 */
export function attrString(type: number, value: string): Uint8Array {
  return attr(type, new TextEncoder().encode(value + "\0"));
}

/**
 * A nested attribute: the children's bytes inside one attribute with
 * NLA_F_NESTED set, which strict policies require.
 *
 * @example An MPTCP address
 * ```ts
 * const addr = attrNested(1, [attrU16(1, 2), attrU8(2, 5)]);
 * ```
 */
export function attrNested(type: number, children: readonly Uint8Array[]): Uint8Array {
  return attr(type | NLA_F_NESTED, concatBytes(children));
}

/** One decoded attribute: its type without flag bits, the flags, and its value bytes. */
export interface NlAttr {
  type: number;
  nested: boolean;
  value: Uint8Array;
}

/**
 * Splits an attribute stream into attributes, in order. Repeated types are kept
 * (arrays such as CTRL_ATTR_MCAST_GROUPS use them).
 *
 * @example Walking a reply
 * ```ts
 * const attrs = concatBytes([attrU16(1, 30), attrString(2, "mptcp_pm")]);
 * for (const a of decodeAttrs(attrs)) console.log(a.type, a.value.length); // 1 2, then 2 9
 * ```
 */
export function decodeAttrs(bytes: Uint8Array): NlAttr[] {
  const dv = view(bytes);
  const out: NlAttr[] = [];
  let at = 0;
  while (at + NLA_HDRLEN <= bytes.length) {
    const len = dv.getUint16(at, HOST_LITTLE_ENDIAN);
    const rawType = dv.getUint16(at + 2, HOST_LITTLE_ENDIAN);
    if (len < NLA_HDRLEN || at + len > bytes.length) {
      throw new RangeError(`netlink: bad nla_len ${len} at offset ${at} of ${bytes.length}`);
    }
    out.push({
      type: rawType & NLA_TYPE_MASK,
      nested: (rawType & NLA_F_NESTED) !== 0,
      value: bytes.subarray(at + NLA_HDRLEN, at + len),
    });
    at += align4(len);
  }
  return out;
}

/**
 * Decodes attributes into a map by type (the last one wins), for policies
 * where each type appears at most once.
 *
 * @example Looking up one attribute
 * ```ts
 * const byType = attrMap(concatBytes([attrU16(1, 30), attrString(2, "mptcp_pm")]));
 * const id = readU16(byType.get(1)!); // 30
 * ```
 */
export function attrMap(bytes: Uint8Array): Map<number, Uint8Array> {
  return new Map(decodeAttrs(bytes).map((a) => [a.type, a.value]));
}

function need(value: Uint8Array, size: number, what: string): DataView {
  if (value.length < size) throw new RangeError(`netlink: ${what} attribute too short`);
  return view(value);
}

/**
 * Reads a u8 attribute value.
 *
 * @example An endpoint id
 * ```ts
 * const byType = attrMap(attrU8(2, 1));
 * readU8(byType.get(2)!); // 1
 * ```
 */
export function readU8(value: Uint8Array): number {
  return need(value, 1, "u8").getUint8(0);
}

/**
 * Reads a host-order u16 attribute value.
 *
 * @example A family id
 * ```ts
 * readU16(attrMap(attrU16(1, 30)).get(1)!); // 30
 * ```
 */
export function readU16(value: Uint8Array): number {
  return need(value, 2, "u16").getUint16(0, HOST_LITTLE_ENDIAN);
}

/**
 * Reads a host-order u32 attribute value.
 *
 * @example A flag word
 * ```ts
 * readU32(attrMap(attrU32(3, 0x4)).get(3)!); // 4
 * ```
 */
export function readU32(value: Uint8Array): number {
  return need(value, 4, "u32").getUint32(0, HOST_LITTLE_ENDIAN);
}

/**
 * Reads a host-order s32 attribute value.
 *
 * @example An interface index
 * ```ts
 * readS32(attrMap(attrS32(6, 2)).get(6)!); // 2
 * ```
 */
export function readS32(value: Uint8Array): number {
  return need(value, 4, "s32").getInt32(0, HOST_LITTLE_ENDIAN);
}

/**
 * Reads a string attribute value, dropping the NUL terminator.
 *
 * @example A family name
 * ```ts
 * readString(attrMap(attrString(2, "mptcp_pm")).get(2)!); // "mptcp_pm"
 * ```
 */
export function readString(value: Uint8Array): string {
  const nul = value.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? value : value.subarray(0, nul));
}
