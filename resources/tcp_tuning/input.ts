/**
 * What users write for a TcpTuning, field by field: which sock_ops callback
 * applies each setting and the first Linux release that honours it. The
 * resource as a whole needs Linux ≥ 5.19 (cgroup bpf_link 5.7, bpf_loop 5.17,
 * bpf_skc_to_mptcp_sock 5.19).
 *
 * @module
 */
import type { PortEntry } from "./schema.ts";

/**
 * Which connections a rule is for. Every condition present must hold; an
 * empty match is every TCP connection of the cgroup.
 *
 * @example HTTPS to one network, opened by this host
 * ```ts
 * const match: TcpMatchInput = { direction: "active", remote: "10.0.0.0/8", remotePorts: [443] };
 * ```
 */
export interface TcpMatchInput {
  /** `active`: this host called connect(); `passive`: it accepted. Default: both. */
  direction?: "active" | "passive";
  /** Local address prefix, IPv4 or IPv6; IPv4 prefixes also match v4-mapped IPv6 sockets. */
  local?: string;
  /** Remote address prefix, IPv4 or IPv6. */
  remote?: string;
  /** Local ports or ranges (`443`, `"8000-8080"`), at most 8. */
  localPorts?: PortEntry[];
  /** Remote ports or ranges, at most 8. */
  remotePorts?: PortEntry[];
  /**
   * `true`: only MPTCP subflows; `false`: only plain TCP (bpf_skc_to_mptcp_sock,
   * Linux 5.19). The kernel gives no socket at the passive side's request-socket
   * callbacks (SYN-ACK RTO, initRwnd, ecn), so there a rule with `subflow` ends the
   * matching without applying anything.
   */
  subflow?: boolean;
}

/**
 * What a rule sets. At least one field. Active connections get socket options
 * at BPF_SOCK_OPS_TCP_CONNECT_CB (before the SYN), passive ones at
 * PASSIVE_ESTABLISHED_CB.
 *
 * @example A fast-start profile
 * ```ts
 * const set: TcpSetInput = { congestion: "bbr", synRtoMs: 200, initCwnd: 40 };
 * ```
 */
export interface TcpSetInput {
  /**
   * Congestion control (TCP_CONGESTION) at ACTIVE/PASSIVE_ESTABLISHED_CB,
   * Linux 4.13. Must be listed in net.ipv4.tcp_available_congestion_control
   * (a plan error otherwise). ECN-based algorithms (dctcp) also want `ecn: true`.
   */
  congestion?: string;
  /**
   * Initial SYN RTO (active) or SYN-ACK RTO (passive) in ms: the
   * BPF_SOCK_OPS_TIMEOUT_INIT reply, Linux 4.13. Rounded up to whole jiffies;
   * 1–120000 (the kernel caps it at TCP_RTO_MAX).
   */
  synRtoMs?: number;
  /** Cap on the initial receive window, in segments: the RWND_INIT reply, Linux 4.13. */
  initRwnd?: number;
  /** Initial congestion window in segments: TCP_BPF_IW at ESTABLISHED_CB (before data), Linux 4.13. */
  initCwnd?: number;
  /**
   * SO_SNDBUF in bytes (TCP_CONNECT_CB / PASSIVE_ESTABLISHED_CB), Linux 4.13.
   * The kernel caps it at net.core.wmem_max and doubles it, as for setsockopt(2).
   */
  sndBuf?: number;
  /**
   * SO_RCVBUF in bytes, like `sndBuf` (capped by net.core.rmem_max). Set before
   * the SYN on active connections, so it also bounds the window scale.
   */
  rcvBuf?: number;
  /**
   * SO_MAX_PACING_RATE (TCP_CONNECT_CB / PASSIVE_ESTABLISHED_CB), Linux 4.13:
   * bytes per second, or `"20mbit"` (bit, kbit, mbit, gbit). At most
   * 4294967294 bytes/s: bpf_setsockopt takes a 32-bit int.
   */
  maxPacingRate?: number | string;
  /**
   * SO_MARK (TCP_CONNECT_CB / PASSIVE_ESTABLISHED_CB), Linux 4.13. Set before
   * the SYN on active connections, so routing by mark applies to them.
   */
  mark?: number;
  /** Minimum RTO in ms, TCP_BPF_RTO_MIN, Linux 5.10: at least 2 jiffies, at most 200. */
  rtoMinMs?: number;
  /** Maximum delayed-ACK time in ms, TCP_BPF_DELACK_MAX, Linux 5.10: at least 2 jiffies, at most 200. */
  delackMaxMs?: number;
  /** TCP_NODELAY (TCP_CONNECT_CB / PASSIVE_ESTABLISHED_CB), Linux 5.0 for bpf_setsockopt. */
  noDelay?: boolean;
  /**
   * ECN as a congestion control that needs it (DCTCP) asks for it: the
   * BPF_SOCK_OPS_NEEDS_ECN reply, Linux 4.13. Active: ECN is requested and
   * the SYN is ECT-marked. Passive: ECN is accepted even from an ECT-marked
   * SYN and the SYN-ACK is ECT-marked. A plain RFC 3168 peer refuses ECN
   * for an ECT-marked SYN, so set it on both ends (e.g. within a datacentre).
   */
  ecn?: true;
}

/**
 * One rule. Rules are tried in order and the first whose match holds decides
 * the connection; a connection left out by `sample` gets nothing from later
 * rules either. `show` lists per rule how many connections it matched, how
 * many it was applied to or sampled out of, and how many setsockopt calls
 * the kernel refused; the counts restart when the rule at that position
 * changes.
 *
 * @example A 10 % experiment
 * ```ts
 * const rule: TcpRuleInput = { match: {}, set: { congestion: "bbr" }, sample: 0.1 };
 * ```
 */
export interface TcpRuleInput {
  /** Default: every connection. */
  match?: TcpMatchInput;
  /** What to set on matching connections. */
  set: TcpSetInput;
  /**
   * Fraction of matching connections (0–1, resolution 1e-6) the rule applies
   * to, chosen per connection by a keyed hash of its addresses and ports, so
   * every callback of one connection agrees. Default 1.
   */
  sample?: number;
}

/**
 * A TcpTuning spec.
 *
 * @example A cgroup with one rule
 * ```ts
 * const spec: TcpTuningSpecInput = {
 *   cgroup: "/sys/fs/cgroup/unified/web",
 *   rules: [{ match: { remote: "10.0.0.0/8" }, set: { synRtoMs: 20 } }],
 * };
 * ```
 */
export interface TcpTuningSpecInput {
  /**
   * A cgroup v2 directory that must exist. Sockets created by its processes
   * (and by those of its descendants) are tuned, and so are the MPTCP subflows
   * the kernel creates for them.
   */
  cgroup: string;
  /** At most 64 rules; first match wins. */
  rules: TcpRuleInput[];
}
