/**
 * Byte layout of the sock_ops program's maps (bpf/sock_ops.bpf.c): the
 * ruleset element (`struct tt_ruleset`) and the per-rule counters. Pure.
 * Decoding yields the same normal form the schema produces, so the diff can
 * compare the kernel's rules with the stack's.
 *
 * @module
 */
import { parseCidr, toMapped } from "../../resources/common/cidr.ts";
import { formatAddress } from "../../resources/common/inet.ts";
import {
  MAX_PORT_ENTRIES,
  MAX_RULES,
  normalisePorts,
  type PortEntry,
  portRange,
  SAMPLE_SCALE,
  type TcpMatch,
  type TcpRule,
  type TcpSet,
} from "../../resources/tcp_tuning/schema.ts";

/** sizeof(struct tt_rule). */
export const RULE_SIZE = 168;
/** sizeof(struct tt_ruleset) header before the rules. */
export const HEADER_SIZE = 16;
/** sizeof(struct tt_ruleset). */
export const RULESET_SIZE = HEADER_SIZE + RULE_SIZE * MAX_RULES;
/** sizeof(struct tt_counters). */
export const COUNTERS_SIZE = 32;

const OFF = {
  localPlen: 32,
  remotePlen: 33,
  direction: 34,
  subflow: 35,
  localPortCount: 36,
  remotePortCount: 37,
  flags: 38,
  localPorts: 40,
  remotePorts: 72,
  sample: 104,
  setMask: 108,
  congestion: 112,
} as const;

const DIRECTION = { active: 1, passive: 2 } as const;
const LOCAL_V6_ONLY = 1;
const REMOTE_V6_ONLY = 2;

/** Numeric settings in `set_mask` bit order with their offsets (u32 each). */
const U32_FIELDS = [
  ["synRtoMs", 1 << 1, 128],
  ["initRwnd", 1 << 2, 132],
  ["initCwnd", 1 << 3, 136],
  ["sndBuf", 1 << 4, 140],
  ["rcvBuf", 1 << 5, 144],
  ["maxPacingRate", 1 << 6, 148],
  ["mark", 1 << 7, 152],
  ["rtoMinMs", 1 << 8, 156],
  ["delackMaxMs", 1 << 9, 160],
] as const;
const SET_CONGESTION = 1 << 0;
const SET_NO_DELAY = 1 << 10;
const SET_ECN = 1 << 11;
const NO_DELAY_OFFSET = 164;
const KNOWN_BITS = (1 << 12) - 1;

/** The ruleset element's content. */
export interface Ruleset {
  hz: number;
  seed: number;
  rules: TcpRule[];
}

/**
 * Encodes the ruleset element.
 *
 * @example Encoding the rules of a spec
 * ```ts
 * import type { TcpTuningSpec } from "../../resources/tcp_tuning.ts";
 *
 * const spec: TcpTuningSpec = { cgroup: "/sys/fs/cgroup/web", rules: [] };
 * const bytes = encodeRuleset({ hz: 250, seed: 1, rules: spec.rules });
 * bytes.length === RULESET_SIZE; // true
 * ```
 */
export function encodeRuleset(ruleset: Ruleset): Uint8Array<ArrayBuffer> {
  if (ruleset.rules.length > MAX_RULES) throw new RangeError(`more than ${MAX_RULES} rules`);
  const bytes = new Uint8Array(RULESET_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, ruleset.rules.length, true);
  view.setUint32(4, ruleset.hz, true);
  view.setUint32(8, ruleset.seed >>> 0, true);
  ruleset.rules.forEach((rule, i) => encodeRule(view, HEADER_SIZE + i * RULE_SIZE, rule));
  return bytes;
}

function encodePrefix(view: DataView, at: number, plenAt: number, text?: string): boolean {
  if (!text) return false;
  const cidr = parseCidr(text);
  if ("error" in cidr) throw new RangeError(cidr.error);
  const { addr, length } = toMapped(cidr);
  new Uint8Array(view.buffer).set(addr, at);
  view.setUint8(plenAt, length);
  return cidr.family === "ipv6";
}

function encodePorts(view: DataView, at: number, countAt: number, ports?: PortEntry[]) {
  if (!ports) return;
  if (ports.length > MAX_PORT_ENTRIES) throw new RangeError("too many port entries");
  view.setUint8(countAt, ports.length);
  ports.forEach((p, i) => {
    const [lo, hi] = portRange(p);
    view.setUint16(at + 4 * i, lo, true);
    view.setUint16(at + 4 * i + 2, hi, true);
  });
}

function encodeRule(view: DataView, base: number, rule: TcpRule): void {
  const at = (off: number) => base + off;
  const { match, set } = rule;
  const v6Local = encodePrefix(view, at(0), at(OFF.localPlen), match.local);
  const v6Remote = encodePrefix(view, at(16), at(OFF.remotePlen), match.remote);
  view.setUint8(at(OFF.flags), (v6Local ? LOCAL_V6_ONLY : 0) | (v6Remote ? REMOTE_V6_ONLY : 0));
  view.setUint8(at(OFF.direction), match.direction ? DIRECTION[match.direction] : 0);
  view.setUint8(at(OFF.subflow), match.subflow === undefined ? 0 : match.subflow ? 1 : 2);
  encodePorts(view, at(OFF.localPorts), at(OFF.localPortCount), match.localPorts);
  encodePorts(view, at(OFF.remotePorts), at(OFF.remotePortCount), match.remotePorts);
  view.setUint32(at(OFF.sample), Math.round(rule.sample * SAMPLE_SCALE), true);
  let mask = 0;
  for (const [field, bit, off] of U32_FIELDS) {
    const value = set[field];
    if (value === undefined) continue;
    mask |= bit;
    view.setUint32(at(off), value, true);
  }
  if (set.congestion !== undefined) {
    mask |= SET_CONGESTION;
    new Uint8Array(view.buffer).set(new TextEncoder().encode(set.congestion), at(OFF.congestion));
  }
  if (set.noDelay !== undefined) {
    mask |= SET_NO_DELAY;
    view.setUint8(at(NO_DELAY_OFFSET), set.noDelay ? 1 : 0);
  }
  if (set.ecn) mask |= SET_ECN;
  view.setUint32(at(OFF.setMask), mask, true);
}

/**
 * Decodes the ruleset element. Rules the program could never have been given
 * (unknown setting bits, bad lengths) decode with what can be read, so the
 * diff still sees that they differ.
 *
 * @example Reading the rules back from the pinned map
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { BpfMap } from "../libbpf/map.ts";
 *
 * function pinnedRules(map: BpfMap) {
 *   return decodeRuleset(map.lookup(new Uint8Array(4))!).rules;
 * }
 * ```
 */
export function decodeRuleset(bytes: Uint8Array): Ruleset {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = Math.min(view.getUint32(0, true), MAX_RULES);
  const rules: TcpRule[] = [];
  for (let i = 0; i < count; i++) rules.push(decodeRule(view, HEADER_SIZE + i * RULE_SIZE));
  return { hz: view.getUint32(4, true), seed: view.getUint32(8, true), rules };
}

function decodePrefix(view: DataView, at: number, plen: number, v6Only: boolean) {
  if (plen === 0 && !v6Only) return undefined;
  const addr = new Uint8Array(view.buffer, view.byteOffset + at, 16);
  const mapped = addr[10] === 0xff && addr[11] === 0xff && addr.subarray(0, 10).every((b) => !b);
  if (!v6Only && mapped && plen >= 96) return `${formatAddress(addr.subarray(12))}/${plen - 96}`;
  return `${formatAddress(addr)}/${Math.min(plen, 128)}`;
}

function decodePorts(view: DataView, at: number, count: number): PortEntry[] | undefined {
  if (count === 0) return undefined;
  const entries: PortEntry[] = [];
  for (let i = 0; i < Math.min(count, MAX_PORT_ENTRIES); i++) {
    const [lo, hi] = [view.getUint16(at + 4 * i, true), view.getUint16(at + 4 * i + 2, true)];
    entries.push(lo === hi ? lo : `${lo}-${hi}`);
  }
  return normalisePorts(entries);
}

function decodeMatch(view: DataView, base: number): TcpMatch {
  const u8 = (off: number) => view.getUint8(base + off);
  const flags = u8(OFF.flags);
  const match: TcpMatch = {};
  const direction = ({ 1: "active", 2: "passive" } as const)[u8(OFF.direction) as 1 | 2];
  if (direction) match.direction = direction;
  const local = decodePrefix(view, base, u8(OFF.localPlen), (flags & LOCAL_V6_ONLY) !== 0);
  if (local) match.local = local;
  const remote = decodePrefix(view, base + 16, u8(OFF.remotePlen), (flags & REMOTE_V6_ONLY) !== 0);
  if (remote) match.remote = remote;
  const localPorts = decodePorts(view, base + OFF.localPorts, u8(OFF.localPortCount));
  if (localPorts) match.localPorts = localPorts;
  const remotePorts = decodePorts(view, base + OFF.remotePorts, u8(OFF.remotePortCount));
  if (remotePorts) match.remotePorts = remotePorts;
  if (u8(OFF.subflow)) match.subflow = u8(OFF.subflow) === 1;
  return match;
}

function decodeSet(view: DataView, base: number): TcpSet & { unknownBits?: number } {
  const mask = view.getUint32(base + OFF.setMask, true);
  const set: TcpSet & { unknownBits?: number } = {};
  if (mask & SET_CONGESTION) {
    const raw = new Uint8Array(view.buffer, view.byteOffset + base + OFF.congestion, 16);
    const end = raw.indexOf(0);
    set.congestion = new TextDecoder().decode(raw.subarray(0, end < 0 ? 16 : end));
  }
  for (const [field, bit, off] of U32_FIELDS) {
    if (mask & bit) set[field] = view.getUint32(base + off, true);
  }
  if (mask & SET_NO_DELAY) set.noDelay = view.getUint8(base + NO_DELAY_OFFSET) !== 0;
  if (mask & SET_ECN) set.ecn = true;
  if (mask & ~KNOWN_BITS) set.unknownBits = mask & ~KNOWN_BITS;
  return set;
}

function decodeRule(view: DataView, base: number): TcpRule {
  return {
    match: decodeMatch(view, base),
    set: decodeSet(view, base),
    sample: view.getUint32(base + OFF.sample, true) / SAMPLE_SCALE,
  };
}

/** One rule's counters, as `struct tt_counters`. */
export interface RuleCounters {
  matched: number;
  applied: number;
  sampledOut: number;
  errors: number;
}

/**
 * Decodes one counters slot.
 *
 * @example An untouched slot
 * ```ts
 * decodeCounters(new Uint8Array(32)); // { matched: 0, applied: 0, sampledOut: 0, errors: 0 }
 * ```
 */
export function decodeCounters(bytes: Uint8Array): RuleCounters {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = (i: number) => Number(view.getBigUint64(i * 8, true));
  return { matched: at(0), applied: at(1), sampledOut: at(2), errors: at(3) };
}
