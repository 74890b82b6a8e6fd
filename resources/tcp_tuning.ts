/**
 * TcpTuning: per-connection TCP and MPTCP-subflow parameters (congestion
 * control, SYN RTO, windows, buffers, pacing, mark, timers, ECN), chosen by
 * first-match rules and applied by a sock_ops program on a cgroup v2.
 *
 * @module
 */
import { checkedSpec } from "../engine/diagnostics.ts";
import type { Change, Observed, Resource } from "../engine/types.ts";
import { onePerTarget, type StackRule } from "../engine/stack.ts";
import { parseSpec } from "./common/zod_errors.ts";
import { CongestionControl } from "./congestion_control.ts";
import { tcpTuningSchema, type TcpTuningSpec } from "./tcp_tuning/schema.ts";
import type { TcpTuningSpecInput } from "./tcp_tuning/input.ts";
import {
  diffTcpTuning,
  type TcpTuningDesired,
  type TcpTuningMetaExtra,
  type TcpTuningState,
} from "./tcp_tuning/diff.ts";

export type {
  TcpTuningDesired,
  TcpTuningMetaExtra,
  TcpTuningPins,
  TcpTuningState,
} from "./tcp_tuning/diff.ts";
export type { TtAction, TtOp } from "./tcp_tuning/diff.ts";
export { tcpTuningActions, upgradeTcpTuningExtra } from "./tcp_tuning/diff.ts";
export type {
  TcpMatchInput,
  TcpRuleInput,
  TcpSetInput,
  TcpTuningSpecInput,
} from "./tcp_tuning/input.ts";
export type { PortEntry, TcpMatch, TcpRule, TcpSet, TcpTuningSpec } from "./tcp_tuning/schema.ts";
export { MAX_RULES } from "./tcp_tuning/schema.ts";

/**
 * Declares how the TCP connections of one cgroup v2 are tuned. Rules are
 * tried in order; the first whose match holds decides. Editing rules is one
 * map update (no reload); a new program build is swapped atomically on the
 * pinned cgroup link; moving to another cgroup attaches there before
 * detaching the old one.
 *
 * @example Faster SYN retries and bbr inside a datacentre, a 10 % experiment elsewhere
 * ```ts
 * new TcpTuning("dc", {
 *   cgroup: "/sys/fs/cgroup/unified/web",
 *   rules: [
 *     { match: { remote: "10.0.0.0/8" }, set: { synRtoMs: 20, initCwnd: 40, congestion: "bbr" } },
 *     { match: { local: "10.1.2.0/24", subflow: true }, set: { congestion: "cubic", mark: 0x2 } },
 *     { match: {}, set: { congestion: "bbr" }, sample: 0.1 },
 *   ],
 * });
 * ```
 */
export class TcpTuning
  implements Resource<TcpTuningSpec, TcpTuningDesired, TcpTuningState, TcpTuningMetaExtra> {
  /** The kind's name, as plans and state directories spell it. */
  static readonly kind = "TcpTuning";
  /** The kind's rules across a stack's resources, checked by `Stack.validate`. */
  static readonly stackRules: readonly StackRule[] = [
    onePerTarget(
      TcpTuning,
      "cgroup",
      (r) => r.spec.cgroup,
      "merge their rules: two programs on one cgroup override each other",
    ),
  ];
  readonly kind: "TcpTuning" = TcpTuning.kind;
  readonly stackRules: readonly StackRule[] = TcpTuning.stackRules;
  readonly spec: TcpTuningSpec;
  readonly dependsOn: readonly string[];

  /** `name` is unique in the stack; `spec` is validated here (a bad one throws `SpecError`); `dependsOn` names resources to apply first. */
  constructor(
    readonly name: string,
    spec: TcpTuningSpecInput,
    opts: { dependsOn?: string[] } = {},
  ) {
    this.spec = checkedSpec(this, spec, () => parseSpec(tcpTuningSchema, spec, name));
    this.dependsOn = opts.dependsOn ?? [];
  }

  /**
   * The stack's CongestionControls that may register a congestion control a rule
   * names (those whose name is only known from their object file included): they
   * are applied first, and destroyed after.
   */
  follows(resources: readonly Resource[]): string[] {
    const rules = Array.isArray(this.spec?.rules) ? this.spec.rules : [];
    const named = new Set(rules.flatMap((r) => r?.set?.congestion ?? []));
    if (named.size === 0) return [];
    return resources.filter((r): r is CongestionControl => r instanceof CongestionControl)
      .filter((cc) => cc.registers === null || named.has(cc.registers)).map((cc) => cc.name);
  }

  /** Pure diff between the kernel and the resolved desired state. */
  diff(
    observed: Observed<TcpTuningState, TcpTuningMetaExtra> | null,
    desired: TcpTuningDesired,
  ): Change[] {
    return diffTcpTuning(observed, desired);
  }
}

// Two sock_ops programs on one cgroup would both answer every callback, so the
// later one's SYN RTO or ECN reply would silently win: one TcpTuning per cgroup.
