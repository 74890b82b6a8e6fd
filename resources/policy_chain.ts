/**
 * PolicyChain: eMPTCP-style selector → actor rules on the TCP packets of
 * chosen devices (drop, mark, record, clampWindow on every subflow of a
 * connection, stripAddAddr with allowFallback), run by one map-driven tc
 * program per hook on tcx links (or classic tc filters) and an XDP program on
 * XDP links, edited with no program reload.
 *
 * @module
 */
import { checkedSpec } from "../engine/diagnostics.ts";
import type { Change, Observed, Resource } from "../engine/types.ts";
import { parseSpec } from "./common/zod_errors.ts";
import {
  policyChainSchema,
  type PolicyChainSpec,
  type PolicyChainSpecInput,
} from "./policy_chain/schema.ts";
import {
  diffPolicyChain,
  type PolicyChainDesired,
  type PolicyChainMetaExtra,
  type PolicyChainState,
} from "./policy_chain/diff.ts";

export type {
  DesiredLink,
  Hook,
  ObservedLink,
  PcAction,
  PcOp,
  PolicyChainDesired,
  PolicyChainMetaExtra,
  PolicyChainState,
} from "./policy_chain/diff.ts";
export { policyChainActions, upgradePolicyChainExtra } from "./policy_chain/diff.ts";
export type {
  Actions,
  ActorInput,
  ChainSelectorInput,
  Clause,
  ClauseInput,
  MptcpOption,
  PolicyChainSpec,
  PolicyChainSpecInput,
  PolicyRule,
  PortSelector,
} from "./policy_chain/schema.ts";
export {
  CLAMP_WINDOW_RANGE,
  MAX_CLAUSES,
  MAX_RULES,
  MPTCP_SUBTYPES,
} from "./policy_chain/schema.ts";
export type { KernelClause, KernelRule } from "./policy_chain/compile.ts";
export { compileRules } from "./policy_chain/compile.ts";

/**
 * Declares a chain of rules on the TCP packets of some devices of one netns.
 * Rules are tried in order and the first match acts. Editing rules is one
 * map update (no reload, no packet sees half a rule set); each device and
 * hook gets its own pinned tcx link (Linux 6.6+) or classic tc filter, and
 * the `xdp` hook a pinned XDP link (drop and record only).
 * `clampWindow` caps the window advertised on every subflow of the matched
 * connection (egress hooks); `stripAddAddr` needs `allowFallback: true`, as
 * it pushes MPTCP connections back to plain TCP.
 *
 * @example No ADD_ADDR from one network, no subflows over a metered link
 * ```ts
 * new PolicyChain("edge", {
 *   netns: "/run/netns/edge",
 *   attach: [{ dev: "eth1", hooks: ["ingress", "egress"] }, { dev: "wwan0", hooks: ["ingress"] }],
 *   rules: [
 *     { select: { remote: "198.51.100.0/24", mptcp: "addAddr" }, act: [{ drop: true }, { record: true }] },
 *     { select: { dev: "wwan0", mptcp: "join" }, act: [{ drop: true }] },
 *     { select: { any: [{ remotePort: 22 }, { remotePort: 443 }] }, act: [{ mark: 0x10 }] },
 *     { select: { remote: "203.0.113.9", remotePort: 443 }, act: [{ clampWindow: 65535 }] },
 *   ],
 * });
 * ```
 */
export class PolicyChain
  implements Resource<PolicyChainSpec, PolicyChainDesired, PolicyChainState, PolicyChainMetaExtra> {
  /** The kind's name, as plans and state directories spell it. */
  static readonly kind = "PolicyChain";
  readonly kind: "PolicyChain" = PolicyChain.kind;
  readonly spec: PolicyChainSpec;
  readonly dependsOn: readonly string[];

  /** `name` is unique in the stack; `spec` is validated here (a bad one throws `SpecError`); `dependsOn` names resources to apply first. */
  constructor(
    readonly name: string,
    spec: PolicyChainSpecInput,
    opts: { dependsOn?: string[] } = {},
  ) {
    this.spec = checkedSpec(this, spec, () => parseSpec(policyChainSchema, spec, name));
    this.dependsOn = opts.dependsOn ?? [];
  }

  /** Pure diff between the kernel and the resolved desired state. */
  diff(
    observed: Observed<PolicyChainState, PolicyChainMetaExtra> | null,
    desired: PolicyChainDesired,
  ): Change[] {
    return diffPolicyChain(observed, desired);
  }
}
