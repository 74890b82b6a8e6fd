/**
 * The policies that ship with sockform, written on the same public API a
 * user's module uses ({@linkcode CreatePolicy}):
 *
 * - {@linkcode ndiffports}: `subflows` subflows per connection over the
 *   initial address pair (the kernel picks a new source port for each).
 * - {@linkcode fullmesh}: a subflow for every local × remote pair, where the
 *   locals are the resource's `locals` (plus the initial local address) and
 *   the remotes are the initial remote plus every address the peer announced.
 *
 * On the accepting side both announce the `signal` locals instead.
 *
 * @module
 */
import {
  announceSignalLocals,
  type ConnectionView,
  type CreatePolicy,
  localFor,
  type Policy,
  type PolicyAction,
  type PolicyEvent,
  type PolicyInit,
} from "./policy.ts";
import type { BuiltinPolicySpec } from "./policy_spec.ts";

/** The id ndiffports joins from when the initial address is not among `locals`. */
export const NDIFFPORTS_LOCAL_ID = 100;

const WANTS: ReadonlySet<PolicyEvent["type"]> = new Set([
  "established",
  "resync",
  "announced",
  "subflow_closed",
]);

/** Whether the connection is ready for joins (established or resynced from the kernel). */
const joinable = (event: PolicyEvent, conn: ConnectionView) =>
  WANTS.has(event.type) && !conn.serverSide && conn.local !== "";

/**
 * ndiffports: `params.subflows` subflows (the initial one included) over the
 * connection's own address pair.
 *
 * @example
 * ```ts
 * const policy = ndiffports({ locals: [], params: { subflows: 3 }, log: console.error });
 * ```
 */
export const ndiffports: CreatePolicy = ({ locals, params }): Policy => {
  const want = Number(params.subflows);
  if (!Number.isInteger(want) || want < 1) {
    throw new RangeError(`ndiffports: subflows must be a positive integer, got ${params.subflows}`);
  }
  return {
    name: `ndiffports(${want})`,
    onEvent(event, conn) {
      if (conn.serverSide && WANTS.has(event.type)) return announceSignalLocals(locals, conn);
      if (!joinable(event, conn)) return [];
      const local = localFor(locals, conn.local, NDIFFPORTS_LOCAL_ID);
      const remote = { address: conn.remote, port: conn.remotePort };
      const missing = Math.max(0, want - conn.subflows.length);
      return Array.from({ length: missing }, () => ({ kind: "create_subflow", local, remote }));
    },
  };
};

/**
 * fullmesh: one subflow per local × remote address pair.
 *
 * @example
 * ```ts
 * const policy = fullmesh({ locals: [{ address: "10.1.3.1", id: 2 }], params: {}, log: console.error });
 * ```
 */
export const fullmesh: CreatePolicy = ({ locals }): Policy => ({
  name: "fullmesh",
  onEvent(event, conn) {
    if (conn.serverSide && WANTS.has(event.type)) return announceSignalLocals(locals, conn);
    if (!joinable(event, conn)) return [];
    const froms = [
      localFor(locals, conn.local, NDIFFPORTS_LOCAL_ID),
      ...locals.filter((l) => l.address !== conn.local),
    ];
    const actions: PolicyAction[] = [];
    for (const from of froms) {
      for (const to of conn.remotes) {
        const has = conn.subflows.some((s) => s.local === from.address && s.remote === to.address);
        if (!has) {
          actions.push({
            kind: "create_subflow",
            local: { address: from.address, id: from.id },
            remote: { address: to.address, port: to.port },
          });
        }
      }
    }
    return actions;
  },
});

/**
 * Builds a builtin policy from its spec.
 *
 * @example
 * ```ts
 * const policy = builtinPolicy({ builtin: "fullmesh" }, { locals: [], params: {}, log: console.error });
 * console.log(policy.name); // "fullmesh"
 * ```
 */
export function builtinPolicy(spec: BuiltinPolicySpec, init: PolicyInit): Policy {
  if (spec.builtin === "ndiffports") {
    return ndiffports({ ...init, params: { subflows: spec.subflows } });
  }
  if (spec.builtin === "fullmesh") return fullmesh(init);
  throw new RangeError(`policy.builtin: unknown builtin ${JSON.stringify(spec)}`);
}
