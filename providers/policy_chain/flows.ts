/**
 * The per-flow record of a PolicyChain (the `flows` LRU map,
 * bpf/include/policy_chain_flows.h): one entry per subflow 4-tuple and
 * record rule, with packets and TCP payload bytes each way, first/last seen,
 * the subflow's smoothed RTT (last and smallest sample) and its MPTCP
 * connection's token. Decoding is pure; `readFlows` reads the pin.
 *
 * Flow entries are records, not state: plan never diffs them and they are
 * not in the staleness token; `show` prints them.
 *
 * @module
 */
import { formatAddress } from "../../resources/common/inet.ts";
import { MPTCP_SUBTYPES, type MptcpOption } from "../../resources/policy_chain.ts";
import { libbpf } from "../libbpf/ffi.ts";
import type { Transaction } from "../../engine/types.ts";
import type { BpfMap } from "../libbpf/map.ts";
import { openChainMap, PIN } from "./kernel.ts";

/** sizeof(struct pc_flow_key). */
export const FLOW_KEY_SIZE = 40;
/** sizeof(struct pc_flow). */
export const FLOW_SIZE = 64;
/** PC_MAX_FLOWS: the LRU map's size; beyond it the flows seen longest ago are evicted. */
export const MAX_FLOWS = 4096;

/** Packets and TCP payload bytes one way. */
export interface FlowTraffic {
  packets: number;
  bytes: number;
}

/** One recorded subflow of one record rule. */
export interface FlowRecord {
  /** Index of the rule that recorded it. */
  rule: number;
  /** Local address and port (the source of egress packets). */
  local: string;
  localPort: number;
  remote: string;
  remotePort: number;
  /** Egress: what the local end sent (compare with tcp_info bytes_sent). */
  sent: FlowTraffic;
  /** Ingress: what it received (compare with tcp_info bytes_received). */
  received: FlowTraffic;
  /** Last smoothed RTT of the subflow's socket, µs (null: no egress packet seen). */
  rttUs: number | null;
  /** Smallest smoothed RTT sampled, µs. */
  rttMinUs: number | null;
  /** The MPTCP connection's local token in hex as `ss` prints it (null: not MPTCP, or no egress seen). */
  token: string | null;
  /** MPTCP option subtypes seen (only when some rule selects on MPTCP options). */
  mptcp: MptcpOption[];
  /** First and last packet, CLOCK_MONOTONIC milliseconds. */
  firstSeenMs: number;
  lastSeenMs: number;
}

function address(bytes: Uint8Array): string {
  const mapped = bytes[10] === 0xff && bytes[11] === 0xff && bytes.subarray(0, 10).every((b) => !b);
  return formatAddress(mapped ? bytes.subarray(12) : bytes);
}

function subtypes(mask: number): MptcpOption[] {
  return Object.entries(MPTCP_SUBTYPES).filter(([, bit]) => mask & (1 << bit))
    .map(([name]) => name as MptcpOption).sort();
}

/**
 * Decodes one entry of the flows map. Pure.
 *
 * @example An all-zero entry
 * ```ts
 * decodeFlow(new Uint8Array(40), new Uint8Array(64)).sent; // { packets: 0, bytes: 0 }
 * ```
 */
export function decodeFlow(key: Uint8Array, value: Uint8Array): FlowRecord {
  const k = new DataView(key.buffer, key.byteOffset, key.byteLength);
  const v = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const u64 = (at: number) => Number(v.getBigUint64(at, true));
  const rtt = v.getUint32(48, true);
  const rttMin = v.getUint32(52, true);
  const token = v.getUint32(56, true);
  return {
    rule: k.getUint32(36, true),
    local: address(key.subarray(0, 16)),
    localPort: k.getUint16(32, true),
    remote: address(key.subarray(16, 32)),
    remotePort: k.getUint16(34, true),
    sent: { packets: u64(0), bytes: u64(16) },
    received: { packets: u64(8), bytes: u64(24) },
    rttUs: rtt || null,
    rttMinUs: rttMin || null,
    token: token ? token.toString(16) : null,
    mptcp: subtypes(v.getUint32(60, true)),
    firstSeenMs: u64(32) / 1e6,
    lastSeenMs: u64(40) / 1e6,
  };
}

/**
 * Every recorded flow in a chain's `flows` pin (empty when the pin is
 * missing), by rule, then most bytes first. The walk is bounded: entries
 * evicted while it runs can restart the kernel's key order, so it stops
 * after `MAX_FLOWS` distinct keys or twice that many steps.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function busiest(dir: string) {
 *   return readFlows(dir)[0]?.sent.bytes;
 * }
 * ```
 */
export function readFlows(dir: string): FlowRecord[] {
  const map = openChainMap(dir, "flows");
  if (!map) return [];
  const seen = new Map<string, FlowRecord>();
  try {
    walkFlows(map, (key, value) => seen.set(key.join(","), decodeFlow(key, value)));
  } finally {
    map.close();
  }
  const moved = (f: FlowRecord) => f.sent.bytes + f.received.bytes;
  return [...seen.values()].sort((a, b) => a.rule - b.rule || moved(b) - moved(a));
}

/** Visits entries (copies) in the kernel's key order, bounded: evictions can restart the order. */
function walkFlows(map: BpfMap, visit: (key: Uint8Array, value: Uint8Array) => void): void {
  const keys = [new Uint8Array(FLOW_KEY_SIZE), new Uint8Array(FLOW_KEY_SIZE)];
  const value = new Uint8Array(FLOW_SIZE);
  let prev: Uint8Array<ArrayBuffer> | null = null;
  for (let i = 0; i < 2 * MAX_FLOWS; i++) {
    const next = keys[i & 1];
    if (libbpf().bpf_map_get_next_key(map.fd, prev, next) < 0) return; // ENOENT: the end
    if (libbpf().bpf_map_lookup_elem(map.fd, next, value) === 0) visit(next.slice(), value.slice());
    prev = next;
  }
}

/**
 * Deletes the flows of rules whose position now holds another rule (their
 * records would be shown under the new one); the undo puts them back.
 *
 * @example Inside a rule update
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Transaction } from "../../engine/types.ts";
 *
 * function ruleZeroChanged(tx: Transaction, dir: string) {
 *   forgetFlows(tx, dir, new Set([0]));
 * }
 * ```
 */
export function forgetFlows(tx: Transaction, dir: string, rules: ReadonlySet<number>): void {
  if (!rules.size) return;
  const map = openChainMap(dir, "flows");
  if (!map) return; // a build from before the flows map: nothing recorded
  try {
    const gone: [Uint8Array, Uint8Array][] = [];
    walkFlows(map, (key, value) => {
      if (rules.has(decodeFlow(key, value).rule)) gone.push([key, value]);
    });
    if (!gone.length) return;
    tx.onRollback(`restore ${gone.length} recorded flow(s) in ${dir}/${PIN.flows}`, () => {
      const back = openChainMap(dir, "flows");
      try {
        for (const [key, value] of gone) back?.update(key, value);
      } finally {
        back?.close();
      }
    });
    for (const [key] of gone) map.delete(key);
  } finally {
    map.close();
  }
}
