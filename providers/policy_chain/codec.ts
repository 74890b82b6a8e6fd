/**
 * Byte layout of the PolicyChain program's maps (bpf/policy_chain.bpf.c,
 * bpf/include/policy_chain.h): the ruleset element (`struct pc_ruleset`) and
 * the per-CPU rule counters. Pure. Decoding yields the same `KernelRule`
 * form `compileRules` produces, so the diff compares like with like.
 *
 * @module
 */
import { parseCidr, toMapped } from "../../resources/common/cidr.ts";
import { formatAddress } from "../../resources/common/inet.ts";
import {
  type Actions,
  type KernelClause,
  type KernelRule,
  MAX_CLAUSES,
  MAX_RULES,
  MPTCP_SUBTYPES,
  type MptcpOption,
  type PortSelector,
} from "../../resources/policy_chain.ts";

const HEADER = 16;
const RULE_SIZE = 16;
/** sizeof(struct pc_clause). */
export const CLAUSE_SIZE = 52;
const CLAUSES_AT = HEADER + RULE_SIZE * MAX_RULES;
/** sizeof(struct pc_ruleset). */
export const RULESET_SIZE = CLAUSES_AT + CLAUSE_SIZE * MAX_CLAUSES;
/** sizeof(struct pc_counters). */
export const COUNTERS_SIZE = 16;

const ACT = { drop: 1, mark: 2, record: 4, clamp: 8, stripAddAddr: 16 } as const;
const DIRECTION = { ingress: 1, egress: 2 } as const;
const LOCAL_V6_ONLY = 1;
const REMOTE_V6_ONLY = 2;
const ALL_SUBTYPES = (1 << Object.keys(MPTCP_SUBTYPES).length) - 1;
const OFF = {
  localPlen: 32,
  remotePlen: 33,
  direction: 34,
  flags: 35,
  lport: 36,
  rport: 40,
  ifindex: 44,
  mptcp: 48,
  rule: 50,
} as const;

function mptcpMask(names: readonly MptcpOption[]): number {
  if (names.includes("any")) return ALL_SUBTYPES;
  return names.reduce((m, n) => m | (1 << MPTCP_SUBTYPES[n as keyof typeof MPTCP_SUBTYPES]), 0);
}

function mptcpNames(mask: number): MptcpOption[] {
  if ((mask & ALL_SUBTYPES) === ALL_SUBTYPES) return ["any"];
  const names = Object.entries(MPTCP_SUBTYPES).filter(([, bit]) => mask & (1 << bit));
  return names.map(([n]) => n as MptcpOption).sort();
}

function encodePrefix(bytes: Uint8Array, at: number, text?: string): { plen: number; v6: boolean } {
  if (!text) return { plen: 0, v6: false };
  const cidr = parseCidr(text);
  if ("error" in cidr) throw new RangeError(cidr.error);
  const { addr, length } = toMapped(cidr);
  bytes.set(addr, at);
  return { plen: length, v6: cidr.family === "ipv6" };
}

function encodePort(view: DataView, at: number, port?: PortSelector): void {
  if (port === undefined) return;
  const [lo, hi] = typeof port === "number" ? [port, port] : port.split("-").map(Number);
  view.setUint16(at, lo, true);
  view.setUint16(at + 2, hi, true);
}

function encodeClause(bytes: Uint8Array, base: number, c: KernelClause, rule: number): void {
  const view = new DataView(bytes.buffer);
  const local = encodePrefix(bytes, base, c.local);
  const remote = encodePrefix(bytes, base + 16, c.remote);
  view.setUint8(base + OFF.localPlen, local.plen);
  view.setUint8(base + OFF.remotePlen, remote.plen);
  view.setUint8(base + OFF.direction, c.direction ? DIRECTION[c.direction] : 0);
  view.setUint8(
    base + OFF.flags,
    (local.v6 ? LOCAL_V6_ONLY : 0) | (remote.v6 ? REMOTE_V6_ONLY : 0),
  );
  encodePort(view, base + OFF.lport, c.localPort);
  encodePort(view, base + OFF.rport, c.remotePort);
  view.setUint32(base + OFF.ifindex, c.ifindex ?? 0, true);
  view.setUint16(base + OFF.mptcp, c.mptcp ? mptcpMask(c.mptcp) : 0, true);
  view.setUint16(base + OFF.rule, rule, true);
}

/**
 * Encodes the ruleset element: rules' actions, then every clause in rule order.
 *
 * @example
 * ```ts
 * const bytes = encodeRuleset([{ clauses: [{ mptcp: ["addAddr"] }], act: { drop: true } }]);
 * ```
 */
export function encodeRuleset(rules: readonly KernelRule[]): Uint8Array<ArrayBuffer> {
  if (rules.length > MAX_RULES) throw new RangeError(`more than ${MAX_RULES} rules`);
  const bytes = new Uint8Array(RULESET_SIZE);
  const view = new DataView(bytes.buffer);
  let clauses = 0;
  let mptcp = false;
  rules.forEach((rule, i) => {
    const a = rule.act;
    view.setUint32(HEADER + i * RULE_SIZE, actionBits(a), true);
    view.setUint32(HEADER + i * RULE_SIZE + 4, a.mark ?? 0, true);
    view.setUint32(HEADER + i * RULE_SIZE + 8, a.clampWindow ?? 0, true);
    mptcp ||= a.stripAddAddr === true; // the program finds ADD_ADDR by parsing options
    for (const c of rule.clauses) {
      if (clauses >= MAX_CLAUSES) throw new RangeError(`more than ${MAX_CLAUSES} clauses`);
      encodeClause(bytes, CLAUSES_AT + clauses++ * CLAUSE_SIZE, c, i);
      mptcp ||= c.mptcp !== undefined;
    }
  });
  view.setUint32(0, rules.length, true);
  view.setUint32(4, clauses, true);
  view.setUint32(8, mptcp ? 1 : 0, true);
  view.setUint32(12, rules.some((r) => r.act.clampWindow !== undefined) ? 1 : 0, true);
  return bytes;
}

function actionBits(a: Actions): number {
  return (a.drop ? ACT.drop : 0) | (a.mark !== undefined ? ACT.mark : 0) |
    (a.record ? ACT.record : 0) | (a.clampWindow !== undefined ? ACT.clamp : 0) |
    (a.stripAddAddr ? ACT.stripAddAddr : 0);
}

function decodePrefix(bytes: Uint8Array, at: number, plen: number, v6Only: boolean) {
  if (plen === 0 && !v6Only) return undefined;
  const addr = bytes.subarray(at, at + 16);
  const mapped = addr[10] === 0xff && addr[11] === 0xff && addr.subarray(0, 10).every((b) => !b);
  if (!v6Only && mapped && plen >= 96) return `${formatAddress(addr.subarray(12))}/${plen - 96}`;
  return `${formatAddress(addr)}/${Math.min(plen, 128)}`;
}

function decodePort(view: DataView, at: number): PortSelector | undefined {
  const [lo, hi] = [view.getUint16(at, true), view.getUint16(at + 2, true)];
  if (!lo && !hi) return undefined;
  return lo === hi ? lo : `${lo}-${hi}`;
}

function decodeClause(bytes: Uint8Array, base: number): KernelClause {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u8 = (off: number) => view.getUint8(base + off);
  const c: KernelClause = {};
  const local = decodePrefix(bytes, base, u8(OFF.localPlen), (u8(OFF.flags) & LOCAL_V6_ONLY) !== 0);
  const remote = decodePrefix(
    bytes,
    base + 16,
    u8(OFF.remotePlen),
    (u8(OFF.flags) & REMOTE_V6_ONLY) !== 0,
  );
  if (local) c.local = local;
  if (remote) c.remote = remote;
  const lport = decodePort(view, base + OFF.lport);
  const rport = decodePort(view, base + OFF.rport);
  if (lport !== undefined) c.localPort = lport;
  if (rport !== undefined) c.remotePort = rport;
  const dir = ({ 1: "ingress", 2: "egress" } as const)[u8(OFF.direction) as 1 | 2];
  if (dir) c.direction = dir;
  const ifindex = view.getUint32(base + OFF.ifindex, true);
  if (ifindex) c.ifindex = ifindex;
  const mask = view.getUint16(base + OFF.mptcp, true);
  if (mask) c.mptcp = mptcpNames(mask);
  return c;
}

/**
 * Decodes the ruleset element into rules (clauses grouped by their rule).
 *
 * @example
 * ```ts
 * import type { KernelRule } from "../../resources/policy_chain.ts";
 *
 * const rules: KernelRule[] = [];
 * decodeRuleset(encodeRuleset(rules)); // deep-equals rules
 * ```
 */
export function decodeRuleset(bytes: Uint8Array): KernelRule[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = Math.min(view.getUint32(0, true), MAX_RULES);
  const rules: KernelRule[] = [];
  for (let i = 0; i < count; i++) {
    const actions = view.getUint32(HEADER + i * RULE_SIZE, true);
    const act: Actions = {};
    if (actions & ACT.drop) act.drop = true;
    if (actions & ACT.mark) act.mark = view.getUint32(HEADER + i * RULE_SIZE + 4, true);
    if (actions & ACT.record) act.record = true;
    if (actions & ACT.clamp) act.clampWindow = view.getUint32(HEADER + i * RULE_SIZE + 8, true);
    if (actions & ACT.stripAddAddr) act.stripAddAddr = true;
    rules.push({ clauses: [], act });
  }
  const clauses = Math.min(view.getUint32(4, true), MAX_CLAUSES);
  for (let i = 0; i < clauses; i++) {
    const base = CLAUSES_AT + i * CLAUSE_SIZE;
    const rule = view.getUint16(base + OFF.rule, true);
    // A clause of a rule past the count is what a hand edit leaves: shown as a rule of its own.
    while (rules.length <= rule && rules.length < MAX_RULES) rules.push({ clauses: [], act: {} });
    rules[Math.min(rule, MAX_RULES - 1)].clauses.push(decodeClause(bytes, base));
  }
  return rules;
}

/** One rule's record counters, summed over CPUs. */
export interface RuleCounters {
  packets: number;
  bytes: number;
}

/**
 * Sums a per-CPU counters value (`cpus` slots of 16 bytes).
 *
 * @example Two CPUs
 * ```ts
 * sumCounters(new Uint8Array(32), 2); // { packets: 0, bytes: 0 }
 * ```
 */
export function sumCounters(value: Uint8Array, cpus: number): RuleCounters {
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  let packets = 0n;
  let bytes = 0n;
  for (let c = 0; c < cpus; c++) {
    packets += view.getBigUint64(c * COUNTERS_SIZE, true);
    bytes += view.getBigUint64(c * COUNTERS_SIZE + 8, true);
  }
  return { packets: Number(packets), bytes: Number(bytes) };
}
