/**
 * What a programmable PathManager hands its agent: which policy runs, with
 * which params, over which local addresses. This is the contract between the
 * resource (which validates the stack's spec and resolves a module path) and
 * the agent (which loads the policy and serves it). Plain JSON, so it travels
 * in {@linkcode AgentLaunch.params} and its hash says when an agent is outdated.
 *
 * @module
 */

/** A policy that ships with sockform. */
export type BuiltinPolicySpec =
  | { builtin: "ndiffports"; subflows: number }
  | { builtin: "fullmesh" };

/** A policy module of the user's: an absolute path (the resource resolves it) and its params. */
export interface ModulePolicySpec {
  /** The module's absolute path. */
  module: string;
  /** Handed to the module's `createPolicy` as `params`. */
  params?: Record<string, unknown>;
}

/** Which policy an agent runs. */
export type PolicySpec = BuiltinPolicySpec | ModulePolicySpec;

/** A local address the policy may use, as declared in the resource's `locals`. */
export interface PolicyLocal {
  /** The IP address. */
  address: string;
  /** The MPTCP address id; the kernel needs one for SUBFLOW_CREATE and ANNOUNCE. */
  id: number;
  /** Subflows from it are backups. */
  backup?: boolean;
  /** Announce it to peers (server side). */
  signal?: boolean;
  /** The interface it sits on, when known (policies may choose by it). */
  dev?: string;
}

/** `AgentLaunch.params` of a `path_manager` agent. */
export interface PathManagerAgentParams {
  policy: PolicySpec;
  locals: PolicyLocal[];
}

/**
 * Whether a spec names a module rather than a builtin.
 *
 * @example
 * ```ts
 * isModulePolicy({ module: "/srv/policies/prefer_wifi.ts" }); // true
 * ```
 */
export function isModulePolicy(spec: PolicySpec): spec is ModulePolicySpec {
  return "module" in spec;
}
