/**
 * What it takes to bring a netns's MPTCP state to a target, as actions: one
 * plan line (`Change`) each, plus the kernel operations that make it so. The
 * plan and the driver share this, so what apply does is what plan showed.
 *
 * @module
 */
import type { Change } from "../../engine/types.ts";
import { sysctlSpecPath } from "./schema.ts";
import {
  describeEndpoint,
  type DesiredEndpoint,
  endpointKey,
  type LimitKey,
  type PmEndpoint,
  type PmLimits,
  type PmMemory,
  type PmState,
} from "./types.ts";

/** One kernel operation. */
export type PmOp =
  | { op: "sysctl"; name: string; from: string | undefined; to: string }
  | { op: "limit"; key: LimitKey; from: number; to: number }
  | { op: "delete"; endpoint: PmEndpoint }
  | { op: "add"; endpoint: Omit<DesiredEndpoint, "path"> }
  | { op: "setFlags"; id: number; address: string; from: string[]; to: string[] };

/** A plan line and the operations behind it. */
export interface PmAction {
  change: Change;
  ops: PmOp[];
}

/** Where the netns should end up. */
export interface PmTarget {
  endpoints: DesiredEndpoint[];
  limits: Partial<PmLimits>;
  sysctls: Record<string, string>;
  exclusive: boolean;
}

/**
 * Flags SET_FLAGS changes in place; any other difference needs delete + add.
 *
 * @example Is a flag change hitless?
 * ```ts
 * const inPlace = MUTABLE_FLAGS.includes("backup"); // true
 * ```
 */
export const MUTABLE_FLAGS: readonly string[] = ["backup", "fullmesh"];

const fixedFlags = (flags: readonly string[]) =>
  flags.filter((f) => !MUTABLE_FLAGS.includes(f)).sort().join(",");
const mutableFlags = (flags: readonly string[]) =>
  flags.filter((f) => MUTABLE_FLAGS.includes(f)).sort().join(",");

function withoutPath(d: DesiredEndpoint): Omit<DesiredEndpoint, "path"> {
  const { path: _path, ...rest } = d;
  return rest;
}

/**
 * `claimed`: explicit ids other declared endpoints want. An endpoint of ours
 * holding one (the kernel picked it) is re-added so the id comes free.
 */
function endpointAction(
  d: DesiredEndpoint,
  o: PmEndpoint | undefined,
  claimed: ReadonlyMap<number, string>,
): PmAction | null {
  const after = describeEndpoint(d);
  const add: PmOp = { op: "add", endpoint: withoutPath(d) };
  if (!o) {
    const change = { path: d.path, after, reason: "endpoint not in the kernel", hitless: true };
    return { change, ops: [add] };
  }
  const before = describeEndpoint(o);
  if (o.flags.includes("implicit")) {
    // The kernel turns its implicit endpoint into ours in place, unless we insist on an id.
    const ops: PmOp[] = d.id === undefined ? [add] : [{ op: "delete", endpoint: o }, add];
    const reason = "replaces the endpoint the kernel created implicitly";
    return { change: { path: d.path, before, after, reason, hitless: d.id === undefined }, ops };
  }
  const why = [
    d.id !== undefined && d.id !== o.id ? `id ${o.id} → ${d.id}` : "",
    d.id === undefined && claimed.has(o.id) ? `id ${o.id} (wanted by ${claimed.get(o.id)})` : "",
    (d.ifindex ?? 0) !== (o.ifindex ?? 0) ? `dev ${o.dev ?? "(none)"} → ${d.dev ?? "(none)"}` : "",
    fixedFlags(d.flags) !== fixedFlags(o.flags) ? "flags other than backup/fullmesh" : "",
  ].filter(Boolean);
  if (why.length) {
    const reason = `${why.join(", ")} changed: deleted and re-added (its subflows close)`;
    return {
      change: { path: d.path, before, after, reason, hitless: false },
      ops: [{ op: "delete", endpoint: o }, add],
    };
  }
  if (mutableFlags(d.flags) === mutableFlags(o.flags)) return null;
  const reason = "backup/fullmesh changed in place with SET_FLAGS";
  return {
    change: { path: d.path, before, after, reason, hitless: true },
    ops: [{ op: "setFlags", id: o.id, address: o.address, from: o.flags, to: d.flags }],
  };
}

function strayAction(
  o: PmEndpoint,
  target: PmTarget,
  owned: ReadonlySet<string>,
): PmAction | null {
  const delete_: PmOp[] = [{ op: "delete", endpoint: o }];
  const base = { path: `endpoints[id ${o.id}]`, before: describeEndpoint(o), hitless: false };
  if (owned.has(endpointKey(o))) {
    return { change: { ...base, reason: "endpoint no longer declared" }, ops: delete_ };
  }
  if (target.exclusive) {
    const reason = "endpoint not declared (added outside the stack; exclusive: true removes it)";
    return { change: { ...base, reason }, ops: delete_ };
  }
  const claimant = target.endpoints.find((d) => d.id === o.id);
  if (!claimant) return null;
  const reason = `holds id ${o.id}, which ${claimant.path} declares: removed to make room`;
  return { change: { ...base, reason }, ops: delete_ };
}

function endpointActions(state: PmState, target: PmTarget, owned: ReadonlySet<string>) {
  const explicit = new Map<string, PmEndpoint>();
  const implicit = new Map<string, PmEndpoint>();
  for (const o of state.endpoints) {
    (o.flags.includes("implicit") ? implicit : explicit).set(endpointKey(o), o);
  }
  const wanted = new Set(target.endpoints.map(endpointKey));
  const claimed = new Map<number, string>();
  for (const d of target.endpoints) if (d.id !== undefined) claimed.set(d.id, d.path);
  const out: PmAction[] = [];
  for (const d of target.endpoints) {
    const key = endpointKey(d);
    const action = endpointAction(d, explicit.get(key) ?? implicit.get(key), claimed);
    if (action) out.push(action);
  }
  for (const o of explicit.values()) {
    if (wanted.has(endpointKey(o))) continue;
    const action = strayAction(o, target, owned);
    if (action) out.push(action);
  }
  return out;
}

const RESTORED = "no longer declared: back to its value before the stack took over";

function limitActions(state: PmState, target: PmTarget, memory: PmMemory | null): PmAction[] {
  if (!state.limits) return [];
  const out: PmAction[] = [];
  for (const key of ["subflows", "addAddrAccepted"] as const) {
    const declared = target.limits[key];
    const restore = declared === undefined && memory?.managed.limits.includes(key);
    const to = restore ? memory!.original.limits[key] : declared;
    const from = state.limits[key];
    if (to === undefined || to === from) continue;
    out.push({
      change: {
        path: `limits.${key}`,
        before: from,
        after: to,
        reason: restore ? RESTORED : "limit differs",
        hitless: true,
      },
      ops: [{ op: "limit", key, from, to }],
    });
  }
  return out;
}

function sysctlActions(state: PmState, target: PmTarget, memory: PmMemory | null): PmAction[] {
  const wanted = new Map(Object.entries(target.sysctls));
  const restoring = new Set<string>();
  for (const name of memory?.managed.sysctls ?? []) {
    const original = memory!.original.sysctls[name];
    if (wanted.has(name) || original === undefined) continue;
    wanted.set(name, original);
    restoring.add(name);
  }
  const out: PmAction[] = [];
  for (const [name, to] of wanted) {
    const from = state.sysctls[name];
    if (from === to) continue;
    out.push({
      change: {
        path: sysctlSpecPath(name),
        before: from,
        after: to,
        reason: restoring.has(name) ? RESTORED : `${name} differs`,
        hitless: true,
      },
      ops: [{ op: "sysctl", name, from, to }],
    });
  }
  return out;
}

/**
 * The actions that bring `state` to `target`. `memory` (from the metadata pin)
 * says which endpoints the stack put there and which limits and sysctls it
 * managed, so what it no longer declares is removed or given back.
 *
 * @example Planning a first apply
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { DesiredEndpoint, PmState } from "../../mod.ts";
 *
 * function firstApply(state: PmState, endpoints: DesiredEndpoint[]) {
 *   const target = { endpoints, limits: { subflows: 2 }, sysctls: {}, exclusive: true };
 *   return reconcile(state, target, null).map((a) => a.change);
 * }
 * ```
 */
export function reconcile(state: PmState, target: PmTarget, memory: PmMemory | null): PmAction[] {
  const owned = new Set(memory?.owned ?? []);
  return [
    ...sysctlActions(state, target, memory),
    ...limitActions(state, target, memory),
    ...endpointActions(state, target, owned),
  ];
}

const PHASE: Record<PmOp["op"], number> = { sysctl: 0, limit: 1, delete: 2, add: 3, setFlags: 5 };

/** Additions with an explicit id go first, before the kernel hands that id to another. */
function phase(op: PmOp): number {
  return op.op === "add" && op.endpoint.id === undefined ? 4 : PHASE[op.op];
}

/**
 * The operations of `actions` in the order apply runs them: sysctls, limits,
 * deletions (which free addresses and ids), additions (explicit ids first),
 * then flag changes.
 *
 * @example Running a plan's operations
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { PmMemory, PmState } from "../../mod.ts";
 * import type { Transaction } from "../../engine/types.ts";
 * import { runPmOps } from "../../providers/path_manager/kernel.ts";
 *
 * function run(netns: string, state: PmState, target: PmTarget, memory: PmMemory, tx: Transaction) {
 *   runPmOps(netns, orderedOps(reconcile(state, target, memory)), tx);
 * }
 * ```
 */
export function orderedOps(actions: readonly PmAction[]): PmOp[] {
  return actions.flatMap((a) => a.ops).sort((x, y) => phase(x) - phase(y));
}

/**
 * The target that gives a netns back: its original endpoints (ids, devices
 * and flags as they were), and the original value of every limit and sysctl
 * the stack managed. Endpoints added since by others stay unless exclusive.
 *
 * @example Destroy
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { PmMemory, PmState } from "../../mod.ts";
 *
 * function destroyOps(state: PmState, memory: PmMemory) {
 *   return orderedOps(reconcile(state, restoreTarget(memory), memory));
 * }
 * ```
 */
export function restoreTarget(memory: PmMemory): PmTarget {
  const limits: Partial<PmLimits> = {};
  for (const key of memory.managed.limits) limits[key] = memory.original.limits[key];
  const sysctls: Record<string, string> = {};
  for (const name of memory.managed.sysctls) {
    const value = memory.original.sysctls[name];
    if (value !== undefined) sysctls[name] = value;
  }
  const endpoints = memory.original.endpoints.map((o) => ({
    ...o,
    flags: o.flags.filter((f) => !f.startsWith("0x")),
    path: `original endpoint ${o.id}`,
  }));
  return { endpoints, limits, sysctls, exclusive: memory.exclusive };
}
