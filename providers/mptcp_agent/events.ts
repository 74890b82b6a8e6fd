/**
 * The `mptcp_pm_events` multicast vocabulary (uapi linux/mptcp_pm.h:
 * `enum mptcp_event_type`, `enum mptcp_event_attr`) and the pure decoding of
 * one event message into a typed {@linkcode MptcpEvent}. No FFI, no I/O.
 *
 * Byte order, as net/mptcp/pm_netlink.c writes them: the token, family,
 * if_idx are host order; addresses (`nla_put_in_addr`) and ports
 * (`nla_put_be16`) are network order; ids, backup and error are u8.
 *
 * @module
 */
import { decodeAttrs, HOST_LITTLE_ENDIAN, type NlAttr, view } from "../netlink/codec.ts";
import { formatAddress } from "../../resources/common/inet.ts";

/** The multicast group the kernel sends path-manager events to. */
export const MPTCP_PM_EVENTS_GROUP = "mptcp_pm_events";

/** `MPTCP_EVENT_*` numbers by name. */
export const MPTCP_EVENT = {
  CREATED: 1,
  ESTABLISHED: 2,
  CLOSED: 3,
  ANNOUNCED: 6,
  REMOVED: 7,
  SUB_ESTABLISHED: 10,
  SUB_CLOSED: 11,
  SUB_PRIORITY: 13,
  LISTENER_CREATED: 15,
  LISTENER_CLOSED: 16,
} as const;

/** An event type name, e.g. `SUB_ESTABLISHED`. */
export type MptcpEventType = keyof typeof MPTCP_EVENT;

/** `MPTCP_ATTR_*` numbers. */
export const MPTCP_ATTR = {
  TOKEN: 1,
  FAMILY: 2,
  LOC_ID: 3,
  REM_ID: 4,
  SADDR4: 5,
  SADDR6: 6,
  DADDR4: 7,
  DADDR6: 8,
  SPORT: 9,
  DPORT: 10,
  BACKUP: 11,
  ERROR: 12,
  FLAGS: 13,
  TIMEOUT: 14,
  IF_IDX: 15,
  RESET_REASON: 16,
  RESET_FLAGS: 17,
  SERVER_SIDE: 18,
} as const;

const EVENT_NAMES = new Map<number, MptcpEventType>(
  Object.entries(MPTCP_EVENT).map(([name, n]) => [n, name as MptcpEventType]),
);

/**
 * One decoded event. Fields the kernel did not send for this type are absent
 * (CLOSED carries only the token; LISTENER_* carry no token).
 */
export interface MptcpEvent {
  type: MptcpEventType;
  /** The connection token (u32), as `ss -M` prints it in hex. */
  token?: number;
  /** 2 (AF_INET) or 10 (AF_INET6). */
  family?: number;
  saddr?: string;
  daddr?: string;
  sport?: number;
  dport?: number;
  locId?: number;
  remId?: number;
  backup?: boolean;
  ifIdx?: number;
  /** The subflow's `sk_err` (SUB_CLOSED). */
  error?: number;
  /** `MPTCP_PM_EV_FLAG_*` (CREATED / ESTABLISHED on newer kernels). */
  flags?: number;
  timeout?: number;
  resetReason?: number;
  resetFlags?: number;
  /** CREATED / ESTABLISHED on the accepting side (older kernels send it as its own attr). */
  serverSide?: boolean;
}

function uint(value: Uint8Array): number {
  const dv = view(value);
  if (value.length >= 4) return dv.getUint32(0, HOST_LITTLE_ENDIAN);
  if (value.length >= 2) return dv.getUint16(0, HOST_LITTLE_ENDIAN);
  if (value.length === 1) return value[0];
  return 0;
}

function be16(value: Uint8Array): number {
  return value.length >= 2 ? view(value).getUint16(0, false) : 0;
}

type Setter = (e: MptcpEvent, v: Uint8Array) => void;

const SETTERS: Record<number, Setter> = {
  [MPTCP_ATTR.TOKEN]: (e, v) => e.token = uint(v),
  [MPTCP_ATTR.FAMILY]: (e, v) => e.family = uint(v),
  [MPTCP_ATTR.LOC_ID]: (e, v) => e.locId = uint(v),
  [MPTCP_ATTR.REM_ID]: (e, v) => e.remId = uint(v),
  [MPTCP_ATTR.SADDR4]: (e, v) => e.saddr = formatAddress(v),
  [MPTCP_ATTR.SADDR6]: (e, v) => e.saddr = formatAddress(v),
  [MPTCP_ATTR.DADDR4]: (e, v) => e.daddr = formatAddress(v),
  [MPTCP_ATTR.DADDR6]: (e, v) => e.daddr = formatAddress(v),
  [MPTCP_ATTR.SPORT]: (e, v) => e.sport = be16(v),
  [MPTCP_ATTR.DPORT]: (e, v) => e.dport = be16(v),
  [MPTCP_ATTR.BACKUP]: (e, v) => e.backup = uint(v) !== 0,
  [MPTCP_ATTR.ERROR]: (e, v) => e.error = uint(v),
  [MPTCP_ATTR.FLAGS]: (e, v) => e.flags = uint(v),
  [MPTCP_ATTR.TIMEOUT]: (e, v) => e.timeout = uint(v),
  [MPTCP_ATTR.IF_IDX]: (e, v) =>
    e.ifIdx = v.length >= 4 ? view(v).getInt32(0, HOST_LITTLE_ENDIAN) : 0,
  [MPTCP_ATTR.RESET_REASON]: (e, v) => e.resetReason = uint(v),
  [MPTCP_ATTR.RESET_FLAGS]: (e, v) => e.resetFlags = uint(v),
  [MPTCP_ATTR.SERVER_SIDE]: (e, v) => e.serverSide = v.length === 0 || uint(v) !== 0,
};

/** The name of an event number, or undefined for a number this code does not know. */
export function eventTypeName(cmd: number): MptcpEventType | undefined {
  return EVENT_NAMES.get(cmd);
}

/**
 * Decodes one event from its genl command and attribute bytes. Unknown event
 * numbers give `undefined` (a newer kernel may send types this code does not
 * know; the caller counts them), unknown attributes are skipped.
 *
 * @example Decoding a received message
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { decodeGenl, type NlMessage } from "../netlink/codec.ts";
 *
 * function onMessage(msg: NlMessage): void {
 *   const { cmd, attrs } = decodeGenl(msg.payload);
 *   const event = decodeMptcpEvent(cmd, attrs);
 *   if (event?.type === "CREATED") console.log(event.token?.toString(16));
 * }
 * ```
 */
export function decodeMptcpEvent(cmd: number, attrs: Uint8Array): MptcpEvent | undefined {
  const type = eventTypeName(cmd);
  if (!type) return undefined;
  const event: MptcpEvent = { type };
  for (const a of decodeAttrs(attrs) as NlAttr[]) SETTERS[a.type]?.(event, a.value);
  return event;
}

/**
 * A token as `ss -M` prints it: lowercase hex, no padding.
 *
 * @example
 * ```ts
 * tokenHex(0xdeadbeef); // "deadbeef"
 * ```
 */
export function tokenHex(token: number): string {
  return (token >>> 0).toString(16);
}
