/**
 * Pure encode/decode of the sock_diag messages that list MPTCP connections
 * and their subflows, the way `ss -M` and `ss -ti` read them (uapi
 * linux/inet_diag.h, linux/mptcp.h). No FFI, no I/O.
 *
 * - Connections: `SOCK_DIAG_BY_FAMILY` with `sdiag_protocol = IPPROTO_TCP` and
 *   the real protocol, IPPROTO_MPTCP (262, too big for the u8 field), in an
 *   `INET_DIAG_REQ_PROTOCOL` attribute; `INET_DIAG_INFO` is asked for and
 *   carries `struct mptcp_info`, whose `mptcpi_token` (offset 12) is the token
 *   the events carry. This is what iproute2's ss and the kernel selftest
 *   `mptcp_diag.c` send.
 * - Subflows: a TCP dump asking for `INET_DIAG_INFO`. A subflow's reply carries `INET_DIAG_ULP_INFO`
 *   with `INET_ULP_INFO_NAME` "mptcp" and a nested `INET_ULP_INFO_MPTCP`
 *   holding `MPTCP_SUBFLOW_ATTR_*` (local token, ids, flags).
 *
 * @module
 */
import {
  attrMap,
  attrU32,
  concatBytes,
  HOST_LITTLE_ENDIAN,
  readString,
  view,
} from "../netlink/codec.ts";
import { formatAddress } from "../../resources/common/inet.ts";

/** Netlink protocol and message type. */
export const NETLINK_SOCK_DIAG = 4;
export const SOCK_DIAG_BY_FAMILY = 20;
export const IPPROTO_TCP = 6;
export const IPPROTO_MPTCP = 262;

const INET_DIAG_REQ_PROTOCOL = 3;
/** The reply attribute with `struct mptcp_info` (MPTCP dump) or `struct tcp_info` (TCP dump). */
export const INET_DIAG_INFO = 2;
const INET_DIAG_ULP_INFO = 19;
const INET_ULP_INFO = { NAME: 1, MPTCP: 3 } as const;
const SUBFLOW_ATTR = { TOKEN_REM: 1, TOKEN_LOC: 2, FLAGS: 8, ID_REM: 9, ID_LOC: 10 } as const;
/** `MPTCP_SUBFLOW_FLAG_BKUP_REM` / `_BKUP_LOC`. */
const FLAG_BKUP_REM = 1 << 4;
const FLAG_BKUP_LOC = 1 << 5;
/** `struct inet_diag_msg` size; attributes follow it. */
export const DIAG_MSG_LEN = 72;
const MPTCP_INFO_TOKEN_OFFSET = 12;
/** TCP_LISTEN in `idiag_state`. */
export const TCP_LISTEN = 10;

/** The socket fields every dump reply has. */
export interface DiagSocket {
  family: number;
  /** TCP state number (1 ESTABLISHED … 10 LISTEN). */
  state: number;
  local: string;
  localPort: number;
  remote: string;
  remotePort: number;
  ifIndex: number;
}

/** An MPTCP connection (the msk) from the MPTCP dump. */
export interface DiagConnection extends DiagSocket {
  /** 0 for listeners and sockets without a token yet. */
  token: number;
}

/** An MPTCP subflow (a TCP socket with the mptcp ULP) from the TCP dump. */
export interface DiagSubflow extends DiagSocket {
  /** The local token: names the connection, as in {@linkcode DiagConnection.token}. */
  token: number;
  remoteToken: number;
  localId: number;
  remoteId: number;
  /** We asked the peer to treat it as backup (MP_PRIO / MP_JOIN B bit sent). */
  backupLocal: boolean;
  /** The peer asked us to treat it as backup. */
  backupRemote: boolean;
  /** Raw `MPTCP_SUBFLOW_FLAG_*`. */
  flags: number;
}

/**
 * One `SOCK_DIAG_BY_FAMILY` dump request (`struct inet_diag_req_v2` + attrs)
 * for every state of `family`; MPTCP when `mptcp`, else TCP.
 *
 * @example The request `ss -M` sends for IPv4
 * ```ts
 * const payload = encodeDiagRequest(2, true);
 * ```
 */
export function encodeDiagRequest(family: number, mptcp: boolean): Uint8Array {
  const req = new Uint8Array(56);
  const dv = view(req);
  req[0] = family;
  req[1] = IPPROTO_TCP;
  // INET_DIAG_INFO: the mptcp_info for connections; for TCP the kernel adds
  // INET_DIAG_ULP_INFO only together with it (tcp_diag_get_aux).
  req[2] = 1 << (INET_DIAG_INFO - 1);
  dv.setUint32(4, 0xffff_ffff, HOST_LITTLE_ENDIAN);
  // id.idiag_cookie = INET_DIAG_NOCOOKIE: no socket filter.
  dv.setUint32(48, 0xffff_ffff, HOST_LITTLE_ENDIAN);
  dv.setUint32(52, 0xffff_ffff, HOST_LITTLE_ENDIAN);
  return mptcp ? concatBytes([req, attrU32(INET_DIAG_REQ_PROTOCOL, IPPROTO_MPTCP)]) : req;
}

function address(bytes: Uint8Array, family: number): string {
  const text = formatAddress(family === 2 ? bytes.subarray(0, 4) : bytes.subarray(0, 16));
  return text.startsWith("::ffff:") && text.includes(".") ? text.slice(7) : text;
}

function decodeSocket(payload: Uint8Array): DiagSocket {
  if (payload.length < DIAG_MSG_LEN) throw new RangeError("sock_diag: inet_diag_msg truncated");
  const dv = view(payload);
  const family = payload[0];
  return {
    family,
    state: payload[1],
    localPort: dv.getUint16(4, false),
    remotePort: dv.getUint16(6, false),
    local: address(payload.subarray(8, 24), family),
    remote: address(payload.subarray(24, 40), family),
    ifIndex: dv.getUint32(40, HOST_LITTLE_ENDIAN),
  };
}

/**
 * Decodes one reply of the MPTCP dump.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { NlMessage } from "../netlink/codec.ts";
 *
 * function showToken(msg: NlMessage): void {
 *   const conn = decodeDiagConnection(msg.payload);
 *   console.log(conn.token.toString(16));
 * }
 * ```
 */
export function decodeDiagConnection(payload: Uint8Array): DiagConnection {
  const info = attrMap(payload.subarray(DIAG_MSG_LEN)).get(INET_DIAG_INFO);
  const token = info && info.length >= MPTCP_INFO_TOKEN_OFFSET + 4
    ? view(info).getUint32(MPTCP_INFO_TOKEN_OFFSET, HOST_LITTLE_ENDIAN)
    : 0;
  return { ...decodeSocket(payload), token };
}

function u8(v: Uint8Array | undefined): number {
  return v && v.length >= 1 ? v[0] : 0;
}

function u32(v: Uint8Array | undefined): number {
  return v && v.length >= 4 ? view(v).getUint32(0, HOST_LITTLE_ENDIAN) : 0;
}

/**
 * Decodes one reply of the TCP dump: the subflow, or `undefined` for a TCP
 * socket that is not an MPTCP subflow.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { NlMessage } from "../netlink/codec.ts";
 *
 * function showSubflow(msg: NlMessage): void {
 *   const sf = decodeDiagSubflow(msg.payload);
 *   if (sf) console.log(sf.token, sf.localId, sf.remoteId);
 * }
 * ```
 */
export function decodeDiagSubflow(payload: Uint8Array): DiagSubflow | undefined {
  const ulp = attrMap(payload.subarray(DIAG_MSG_LEN)).get(INET_DIAG_ULP_INFO);
  if (!ulp) return undefined;
  const fields = attrMap(ulp);
  const name = fields.get(INET_ULP_INFO.NAME);
  const mptcp = fields.get(INET_ULP_INFO.MPTCP);
  if (!name || readString(name) !== "mptcp" || !mptcp) return undefined;
  const sf = attrMap(mptcp);
  const flags = u32(sf.get(SUBFLOW_ATTR.FLAGS));
  return {
    ...decodeSocket(payload),
    token: u32(sf.get(SUBFLOW_ATTR.TOKEN_LOC)),
    remoteToken: u32(sf.get(SUBFLOW_ATTR.TOKEN_REM)),
    localId: u8(sf.get(SUBFLOW_ATTR.ID_LOC)),
    remoteId: u8(sf.get(SUBFLOW_ATTR.ID_REM)),
    backupLocal: (flags & FLAG_BKUP_LOC) !== 0,
    backupRemote: (flags & FLAG_BKUP_REM) !== 0,
    flags,
  };
}
