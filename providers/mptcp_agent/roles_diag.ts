/**
 * The live state of each MPTCP subflow as the roles handler samples it: the
 * subflow fields of {@linkcode DiagSubflow} (token, addresses, the local
 * backup flag) plus the few `struct tcp_info` fields (uapi linux/tcp.h) the
 * failover rule reads, all from one TCP sock_diag dump (what `ss -ti`
 * reads). The decoding is pure; {@linkcode dumpLiveSubflows} does the dump.
 *
 * @module
 */
import { attrMap, HOST_LITTLE_ENDIAN, view } from "../netlink/codec.ts";
import {
  decodeDiagSubflow,
  DIAG_MSG_LEN,
  type DiagSubflow,
  INET_DIAG_INFO,
  TCP_LISTEN,
} from "./diag_codec.ts";
import { dumpTcpDiag } from "./snapshot.ts";

/** The `struct tcp_info` fields the failover rule reads. */
export interface SubflowTcpInfo {
  /** `tcpi_retransmits`: consecutive RTOs without an ACK (0 when the subflow is moving). */
  retransmits: number;
  /** `tcpi_unacked`: segments sent and not yet acknowledged. */
  unacked: number;
  /** `tcpi_last_ack_recv`: milliseconds since the last ACK arrived. */
  lastAckRecvMs: number;
  /** `tcpi_rtt`: smoothed RTT in microseconds. */
  rttUs: number;
  /** `tcpi_total_retrans`: segments retransmitted over the subflow's life. */
  totalRetrans: number;
  /** `tcpi_bytes_acked`: bytes the peer acknowledged (each byte once). */
  bytesAcked: number;
  /** `tcpi_segs_out`: segments sent, retransmissions included. */
  segsOut: number;
  /** `tcpi_delivery_rate_app_limited`: the kernel marked its latest delivery-rate sample application-limited. */
  appLimited: boolean;
}

/** Offsets in `struct tcp_info` (stable uapi layout). */
const TCPI = {
  RETRANSMITS: 2,
  /** The byte after `snd_wscale:4, rcv_wscale:4`; bit 0 is `delivery_rate_app_limited`. */
  APP_LIMITED: 7,
  UNACKED: 24,
  LAST_ACK_RECV: 56,
  RTT: 68,
  TOTAL_RETRANS: 100,
  BYTES_ACKED: 120,
  SEGS_OUT: 136,
} as const;

/**
 * Decodes the fields of {@linkcode SubflowTcpInfo} from a `struct tcp_info`;
 * undefined when it is too short to hold them (kernels before 4.2).
 *
 * @example
 * ```ts
 * const tcp = decodeTcpInfo(new Uint8Array(232));
 * tcp?.rttUs; // 0
 * ```
 */
export function decodeTcpInfo(info: Uint8Array): SubflowTcpInfo | undefined {
  if (info.length < TCPI.SEGS_OUT + 4) return undefined;
  const dv = view(info);
  const u32 = (at: number) => dv.getUint32(at, HOST_LITTLE_ENDIAN);
  return {
    retransmits: info[TCPI.RETRANSMITS],
    unacked: u32(TCPI.UNACKED),
    lastAckRecvMs: u32(TCPI.LAST_ACK_RECV),
    rttUs: u32(TCPI.RTT),
    totalRetrans: u32(TCPI.TOTAL_RETRANS),
    bytesAcked: Number(dv.getBigUint64(TCPI.BYTES_ACKED, HOST_LITTLE_ENDIAN)),
    segsOut: u32(TCPI.SEGS_OUT),
    appLimited: (info[TCPI.APP_LIMITED] & 1) === 1,
  };
}

/** A subflow with its TCP state (absent when the kernel sent no `tcp_info`). */
export interface LiveSubflow extends DiagSubflow {
  /** The failover rule's `tcp_info` fields. */
  tcp?: SubflowTcpInfo;
}

/**
 * Decodes one reply of the TCP dump: the subflow with its `tcp_info`, or
 * undefined for a socket that is not an MPTCP subflow.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { dumpTcpDiag } from "./snapshot.ts";
 *
 * function liveSubflows(netns: string) {
 *   return dumpTcpDiag(netns).map(decodeLiveSubflow).filter((s) => s !== undefined);
 * }
 * ```
 */
export function decodeLiveSubflow(payload: Uint8Array): LiveSubflow | undefined {
  const subflow = decodeDiagSubflow(payload);
  if (!subflow) return undefined;
  const info = attrMap(payload.subarray(DIAG_MSG_LEN)).get(INET_DIAG_INFO);
  const tcp = info ? decodeTcpInfo(info) : undefined;
  return tcp ? { ...subflow, tcp } : subflow;
}

/**
 * The MPTCP subflows of `netns` with their TCP state, from one dump
 * (listeners and token-less sockets left out).
 *
 * @example The RTT of every subflow from 10.1.3.1
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function rtts(): void {
 *   const rtts = dumpLiveSubflows("/run/netns/client")
 *     .filter((s) => s.local === "10.1.3.1").map((s) => s.tcp?.rttUs);
 * }
 * ```
 */
export function dumpLiveSubflows(netns?: string): LiveSubflow[] {
  return dumpTcpDiag(netns)
    .map(decodeLiveSubflow)
    .filter((s): s is LiveSubflow => !!s && s.token !== 0 && s.state !== TCP_LISTEN);
}

/**
 * The key the roles handler tracks a subflow by: its token and both ends.
 *
 * @example
 * ```ts
 * subflowKey({ token: 1, local: "10.1.3.1", localPort: 4000, remote: "10.1.2.2", remotePort: 80 });
 * // "1 10.1.3.1:4000 10.1.2.2:80"
 * ```
 */
export function subflowKey(
  s: Pick<DiagSubflow, "token" | "local" | "localPort" | "remote" | "remotePort">,
): string {
  return `${s.token} ${s.local}:${s.localPort} ${s.remote}:${s.remotePort}`;
}
