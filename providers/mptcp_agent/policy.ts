/**
 * The public policy API of the programmable PathManager. A policy is a
 * small object that looks at one connection and says what it wants done:
 *
 * - **Events in.** {@linkcode PolicyEvent}: a connection created,
 *   established or closed, an address the peer announced or removed, a
 *   subflow established or closed, each with its addresses, ports, ids and
 *   flags, and `resync` (the agent started, or it lost events and re-read
 *   the kernel, or a subflow create went unanswered: look again).
 * - **A view.** {@linkcode ConnectionView}: the connection's ends, its
 *   subflows (established, plus the creates already sent and not yet
 *   answered), the remote addresses known (the initial one plus
 *   announcements), what it announced itself, and a `state` object the
 *   policy may keep anything in.
 * - **Actions out.** {@linkcode PolicyAction}: create or destroy a subflow,
 *   announce or remove a local address, set a subflow's backup flag. The
 *   runner sends them with the connection's token.
 *
 * Write policies to be idempotent: compare the view with what you want and
 * return the difference. Then a `resync`, which hands every live connection
 * to the policy once with a view rebuilt from the kernel, brings each to
 * what the policy wants with no special code. A policy that throws is logged
 * and counted, and the agent goes on serving the other connections.
 *
 * A module policy (`policy: { module: "/abs/path.ts", params }`) exports
 * {@linkcode CreatePolicy} as `createPolicy`.
 *
 * @example A policy module: two extra subflows over the first local address
 * ```ts
 * import type { CreatePolicy } from "jsr:@sockform/sockform"; // or the repo's mod.ts
 * export const createPolicy: CreatePolicy = ({ locals }) => ({
 *   name: "two-more",
 *   onEvent(_event, conn) {
 *     if (conn.serverSide || conn.subflows.length >= 3) return [];
 *     const local = locals[0];
 *     return [{ kind: "create_subflow", local, remote: { address: conn.remote, port: conn.remotePort } }];
 *   },
 * });
 * ```
 *
 * @module
 */
import type { PolicyLocal } from "./policy_spec.ts";

/** One end of a subflow or connection. */
export interface Endpoint {
  /** The IP address. */
  address: string;
  /** The port. */
  port: number;
}

/** A subflow as the policy sees it. */
export interface SubflowView {
  /** The local address. */
  local: string;
  /** 0 while a create is pending (the kernel picks the port). */
  localPort: number;
  /** The local address's MPTCP id. */
  localId: number;
  /** The remote address. */
  remote: string;
  /** The remote port. */
  remotePort: number;
  /** The remote address's MPTCP id. */
  remoteId: number;
  /** The backup flag we set (or the join carried). */
  backup: boolean;
  /** `pending`: SUBFLOW_CREATE sent, no SUB_ESTABLISHED yet. */
  state: "established" | "pending";
}

/** A remote address the connection may reach: the initial one (id 0) or an announced one. */
export interface RemoteAddress {
  /** The IP address. */
  address: string;
  /** Its MPTCP address id (0: the initial one). */
  id: number;
  /** The port. */
  port: number;
}

/** One connection, as the runner tracks it for the policy. */
export interface ConnectionView {
  /** The connection's MPTCP token. */
  token: number;
  /** This side accepted the connection (it announces rather than joins). */
  serverSide: boolean;
  /** The initial subflow's ends. */
  local: string;
  /** The initial subflow's local port. */
  localPort: number;
  /** The initial subflow's remote address. */
  remote: string;
  /** The initial subflow's remote port. */
  remotePort: number;
  /** Established subflows (the initial one included) and pending creates. */
  subflows: readonly SubflowView[];
  /** The peer's addresses: the initial remote and its announcements. */
  remotes: readonly RemoteAddress[];
  /** Ids of the local addresses announced on this connection. */
  announced: readonly number[];
  /** The policy's own per-connection state; the runner never reads it. */
  state: Record<string, unknown>;
}

/** What happened, handed to {@linkcode Policy.onEvent} with the connection's view. */
export type PolicyEvent =
  | { type: "created" | "established" | "closed" | "resync" }
  | { type: "announced" | "removed"; remote: RemoteAddress }
  | { type: "subflow_established" | "subflow_closed"; subflow: SubflowView; error?: number };

/** What a policy asks for; the runner adds the token. */
export type PolicyAction =
  | { kind: "create_subflow"; local: { address: string; id: number }; remote: Endpoint }
  | { kind: "destroy_subflow"; local: Endpoint; remote: Endpoint }
  | { kind: "announce"; local: { address: string; id: number; port?: number } }
  | { kind: "remove"; id: number }
  | { kind: "set_backup"; local: Endpoint; remote: Endpoint; backup: boolean };

/** What a policy is created with (from the PathManager's spec). */
export interface PolicyInit {
  /** The resource's `locals`. */
  locals: readonly PolicyLocal[];
  /** The module's `params` (builtins get their spec). */
  params: Readonly<Record<string, unknown>>;
  /** The agent's netns path, for policies that read diag on a timer. */
  netns?: string;
  /** Writes a line to the agent's log. */
  log(message: string): void;
}

/**
 * A path-manager policy. `onEvent` gets every event of a connection (and
 * `resync` once per live connection) and returns the actions it wants now.
 * `onTick`, when present, is called for every live connection about every
 * `tickMs` (default 1000), for policies that decide on live state.
 */
export interface Policy {
  /** The policy's name, for logs and `show`. */
  name: string;
  /** Called for every event of a connection; returns the actions it wants now. */
  onEvent(event: PolicyEvent, conn: ConnectionView): PolicyAction[] | void;
  /** Called for every live connection about every `tickMs`; returns actions. */
  onTick?(conn: ConnectionView): PolicyAction[] | void;
  /** How often `onTick` runs, in milliseconds (default 1000). */
  tickMs?: number;
}

/** What a policy module exports as `createPolicy`. */
export type CreatePolicy = (init: PolicyInit) => Policy;

/**
 * The local address a policy should join from for `address`: the declared
 * local with that address, else `fallbackId` (ids must be non-zero for
 * SUBFLOW_CREATE; the initial subflow's address has id 0 in the kernel).
 *
 * @example
 * ```ts
 * localFor([{ address: "10.1.3.1", id: 2 }], "10.1.3.1", 1); // { address: "10.1.3.1", id: 2 }
 * localFor([], "10.1.1.1", 1); // { address: "10.1.1.1", id: 1 }
 * ```
 */
export function localFor(
  locals: readonly PolicyLocal[],
  address: string,
  fallbackId: number,
): { address: string; id: number } {
  const found = locals.find((l) => l.address === address);
  return { address, id: found?.id ?? fallbackId };
}

/**
 * Announce actions for every `signal` local not yet announced on `conn`
 * (server side): the building block both builtins use.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function onEvent(init: PolicyInit, conn: ConnectionView): PolicyAction[] {
 *   if (conn.serverSide) return announceSignalLocals(init.locals, conn);
 *   return [];
 * }
 * ```
 */
export function announceSignalLocals(
  locals: readonly PolicyLocal[],
  conn: ConnectionView,
): PolicyAction[] {
  return locals
    .filter((l) => l.signal && !conn.announced.includes(l.id) && l.address !== conn.local)
    .map((l) => ({ kind: "announce", local: { address: l.address, id: l.id } }));
}
