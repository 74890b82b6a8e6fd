/**
 * Pure encode/decode of netlink messages: `struct nlmsghdr`, `struct genlmsghdr`,
 * attributes (`struct nlattr`, 4-byte aligned, nested) and the NLMSG_ERROR /
 * NLMSG_DONE payloads with their extended-ack TLVs. No FFI and no I/O, so it is
 * tested against hand-built byte fixtures.
 *
 * Netlink uses host byte order for headers and integer attributes; values the
 * kernel defines as network order (an IPv4 address) are plain byte strings here.
 *
 * @module
 */
import {
  align4,
  attrMap,
  concatBytes,
  HOST_LITTLE_ENDIAN,
  readString,
  readU32,
  view,
} from "./attrs.ts";

export * from "./attrs.ts";

/** Message types every netlink family shares (uapi linux/netlink.h). */
export const NLMSG = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4 } as const;

/** `nlmsg_flags` bits (uapi linux/netlink.h). */
export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  ECHO: 0x8,
  DUMP_INTR: 0x10,
  /** GET requests: ROOT | MATCH. */
  DUMP: 0x300,
  /** On an NLMSG_ERROR: the echoed request was cut to its header. */
  CAPPED: 0x100,
  /** On an NLMSG_ERROR / NLMSG_DONE: extended-ack TLVs follow. */
  ACK_TLVS: 0x200,
} as const;

/** Extended-ack TLV types (uapi `enum nlmsgerr_attrs`). */
export const NLMSGERR_ATTR = { MSG: 1, OFFS: 2, COOKIE: 3, POLICY: 4, MISS_TYPE: 5 } as const;

/** Size of `struct nlmsghdr`. */
export const NLMSG_HDRLEN = 16;
/** Size of `struct genlmsghdr`: cmd, version, 2 reserved bytes. */
export const GENL_HDRLEN = 4;

/** One netlink message, header fields decoded and payload left as bytes. */
export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  payload: Uint8Array;
}

/**
 * Encodes one netlink message: a `struct nlmsghdr` followed by the payload,
 * padded to 4 bytes. `nlmsg_len` counts the header and the unpadded payload.
 *
 * @example A generic netlink request
 * ```ts
 * import { attrString } from "./attrs.ts";
 *
 * const body = encodeGenl(3, 1, attrString(2, "mptcp_pm"));
 * const msg = encodeMessage({ type: 0x10, flags: NLM_F.REQUEST | NLM_F.ACK, seq: 1, pid: 0 }, body);
 * ```
 */
export function encodeMessage(
  header: Omit<NlMessage, "payload">,
  payload: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const len = NLMSG_HDRLEN + payload.length;
  const out = new Uint8Array(align4(len));
  const dv = view(out);
  const le = HOST_LITTLE_ENDIAN;
  dv.setUint32(0, len, le);
  dv.setUint16(4, header.type, le);
  dv.setUint16(6, header.flags, le);
  dv.setUint32(8, header.seq, le);
  dv.setUint32(12, header.pid, le);
  out.set(payload, NLMSG_HDRLEN);
  return out;
}

/**
 * Splits a received datagram into its messages. Throws on a truncated or
 * malformed header rather than guessing.
 *
 * @example Walking a dump reply
 * ```ts
 * const datagram = encodeMessage({ type: NLMSG.DONE, flags: 0, seq: 7, pid: 0 }, new Uint8Array(4));
 * for (const msg of decodeMessages(datagram)) console.log(msg.type, msg.seq); // 3 7
 * ```
 */
export function decodeMessages(bytes: Uint8Array): NlMessage[] {
  const dv = view(bytes);
  const le = HOST_LITTLE_ENDIAN;
  const messages: NlMessage[] = [];
  let at = 0;
  while (at + NLMSG_HDRLEN <= bytes.length) {
    const len = dv.getUint32(at, le);
    if (len < NLMSG_HDRLEN || at + len > bytes.length) {
      throw new RangeError(`netlink: bad nlmsg_len ${len} at offset ${at} of ${bytes.length}`);
    }
    messages.push({
      type: dv.getUint16(at + 4, le),
      flags: dv.getUint16(at + 6, le),
      seq: dv.getUint32(at + 8, le),
      pid: dv.getUint32(at + 12, le),
      payload: bytes.subarray(at + NLMSG_HDRLEN, at + len),
    });
    at += align4(len);
  }
  return messages;
}

/** The generic netlink header (`struct genlmsghdr`) and the attributes after it. */
export interface GenlPayload {
  cmd: number;
  version: number;
  attrs: Uint8Array;
}

/**
 * Encodes `struct genlmsghdr` (cmd, version, 2 reserved bytes) + attributes.
 *
 * @example Building a GETFAMILY body
 * ```ts
 * import { attrString } from "./attrs.ts";
 *
 * const body = encodeGenl(3, 1, attrString(2, "mptcp_pm"));
 * body.length; // 20: the 4-byte genl header, then the padded attribute
 * ```
 */
export function encodeGenl(cmd: number, version: number, attrs: Uint8Array): Uint8Array {
  const head = new Uint8Array([cmd, version, 0, 0]);
  return concatBytes([head, attrs]);
}

/**
 * Decodes a generic netlink payload.
 *
 * @example Reading the command of a reply
 * ```ts
 * const [msg] = decodeMessages(encodeMessage({ type: 0x10, flags: 0, seq: 1, pid: 0 }, encodeGenl(1, 1, new Uint8Array())));
 * const { cmd, attrs } = decodeGenl(msg.payload); // cmd 1, no attrs
 * ```
 */
export function decodeGenl(payload: Uint8Array): GenlPayload {
  if (payload.length < GENL_HDRLEN) throw new RangeError("netlink: genlmsghdr truncated");
  return { cmd: payload[0], version: payload[1], attrs: payload.subarray(GENL_HDRLEN) };
}
/** A decoded NLMSG_ERROR (an ACK when `errno` is 0) or an NLMSG_DONE status. */
export interface NlStatus {
  /** Positive errno, 0 for success. */
  errno: number;
  /** The kernel's extended-ack text (NLMSGERR_ATTR_MSG), when it sent one. */
  extAckMessage?: string;
  /** Byte offset of the offending attribute in the request (NLMSGERR_ATTR_OFFS). */
  extAckOffset?: number;
  /** The missing attribute type (NLMSGERR_ATTR_MISS_TYPE). */
  missingAttr?: number;
  /** Sequence number of the request this status answers (NLMSG_ERROR only). */
  requestSeq?: number;
}

function extAck(tlvs: Uint8Array): Omit<NlStatus, "errno"> {
  const byType = attrMap(tlvs);
  const msg = byType.get(NLMSGERR_ATTR.MSG);
  const offs = byType.get(NLMSGERR_ATTR.OFFS);
  const miss = byType.get(NLMSGERR_ATTR.MISS_TYPE);
  return {
    ...(msg ? { extAckMessage: readString(msg) } : {}),
    ...(offs ? { extAckOffset: readU32(offs) } : {}),
    ...(miss ? { missingAttr: readU32(miss) } : {}),
  };
}

/**
 * Decodes an NLMSG_ERROR message: `int error`, the echoed request header (and
 * its payload unless NLM_F_CAPPED), then extended-ack TLVs if NLM_F_ACK_TLVS.
 *
 * @example Turning a NACK into an error
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function check(msg: NlMessage): void {
 *   const status = decodeError(msg);
 *   if (status.errno) throw new Error(status.extAckMessage ?? "failed");
 * }
 * ```
 */
export function decodeError(msg: NlMessage): NlStatus {
  const p = msg.payload;
  if (p.length < 4 + NLMSG_HDRLEN) throw new RangeError("netlink: NLMSG_ERROR truncated");
  const dv = view(p);
  const errno = 0 - dv.getInt32(0, HOST_LITTLE_ENDIAN);
  const echoedLen = dv.getUint32(4, HOST_LITTLE_ENDIAN);
  const requestSeq = dv.getUint32(4 + 8, HOST_LITTLE_ENDIAN);
  const capped = (msg.flags & NLM_F.CAPPED) !== 0;
  const tlvStart = 4 + (capped ? NLMSG_HDRLEN : align4(echoedLen));
  const tlvs = (msg.flags & NLM_F.ACK_TLVS) && tlvStart <= p.length
    ? extAck(p.subarray(tlvStart))
    : {};
  return { errno, requestSeq, ...tlvs };
}

/**
 * Decodes an NLMSG_DONE payload: `int status` (negative when a dump failed
 * part-way), then extended-ack TLVs if NLM_F_ACK_TLVS.
 *
 * @example Checking how a dump ended
 * ```ts
 * const msg: NlMessage = { type: NLMSG.DONE, flags: 0, seq: 7, pid: 0, payload: new Uint8Array(4) };
 * if (decodeDone(msg).errno) throw new Error("dump failed"); // errno 0: it did not
 * ```
 */
export function decodeDone(msg: NlMessage): NlStatus {
  if (msg.payload.length < 4) return { errno: 0 };
  const errno = 0 - view(msg.payload).getInt32(0, HOST_LITTLE_ENDIAN);
  const tlvs = msg.flags & NLM_F.ACK_TLVS ? extAck(msg.payload.subarray(4)) : {};
  return { errno, ...tlvs };
}
