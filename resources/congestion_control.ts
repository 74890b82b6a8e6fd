/**
 * CongestionControl: a BPF TCP congestion control (a `tcp_congestion_ops`
 * struct_ops) registered with the kernel by a pinned link, so TcpTuning rules
 * (and MPTCP subflows through them) can name it like a built-in one.
 *
 * @module
 */
import { checkedSpec } from "../engine/diagnostics.ts";
import type { Change, Observed, Resource } from "../engine/types.ts";
import { parseSpec } from "./common/zod_errors.ts";
import { stackFileDir } from "../engine/stack_file.ts";
import { resolveModulePath } from "./path_manager/policy.ts";
import {
  congestionControlSchema,
  type CongestionControlSpec,
  type CongestionControlSpecInput,
  SHIPPED_CONGESTION_CONTROLS,
} from "./congestion_control/schema.ts";
import {
  type CongestionControlDesired,
  type CongestionControlMetaExtra,
  type CongestionControlState,
  diffCongestionControl,
} from "./congestion_control/diff.ts";

export type {
  CongestionControlSpec,
  CongestionControlSpecInput,
} from "./congestion_control/schema.ts";
export type {
  CongestionControlDesired,
  CongestionControlMetaExtra,
  CongestionControlOp,
  CongestionControlState,
} from "./congestion_control/diff.ts";
export { congestionControlOp, upgradeCongestionControlExtra } from "./congestion_control/diff.ts";
export { SHIPPED_CONGESTION_CONTROLS } from "./congestion_control/schema.ts";

/**
 * Declares a BPF congestion control. It registers under the `name` of its
 * `tcp_congestion_ops` (the plan shows it); a TcpTuning rule selects it with
 * `congestion: "<name>"` and is applied after it. A new build with the same
 * name replaces the registered one in one link update (hitless: connections
 * keep the build they started with). Destroy unregisters it; connections
 * still using it keep it loaded until they close.
 *
 * @example sockform's Reno for the subflows of one path
 * ```ts
 * import { TcpTuning } from "../mod.ts";
 *
 * new CongestionControl("reno", { program: "sfReno" }); // registers "sf_reno"
 * new TcpTuning("subflows", {
 *   cgroup: "/sys/fs/cgroup/unified/app",
 *   rules: [{ match: { local: "10.1.0.0/16", subflow: true }, set: { congestion: "sf_reno" } }],
 * });
 * ```
 */
export class CongestionControl implements
  Resource<
    CongestionControlSpec,
    CongestionControlDesired,
    CongestionControlState,
    CongestionControlMetaExtra
  > {
  /** The kind's name, as plans and state directories spell it. */
  static readonly kind = "CongestionControl";
  readonly kind: "CongestionControl" = CongestionControl.kind;
  readonly spec: CongestionControlSpec;
  readonly dependsOn: readonly string[];

  /** `name` is unique in the stack; `spec` is validated here (a bad one throws `SpecError`); `dependsOn` names resources to apply first. */
  constructor(
    readonly name: string,
    spec: CongestionControlSpecInput,
    opts: { dependsOn?: string[] } = {},
  ) {
    this.spec = checkedSpec(this, spec, () => {
      const parsed = parseSpec(congestionControlSchema, spec, name);
      if (typeof parsed.program === "string") return parsed;
      // Relative to the stack file, fixed at declaration: the plan names the file it read.
      return { program: { object: resolveModulePath(parsed.program.object, stackFileDir()) } };
    });
    this.dependsOn = opts.dependsOn ?? [];
  }

  /** The name it registers under when known without reading a file (shipped programs); else null. */
  get registers(): string | null {
    const program = this.spec?.program;
    return typeof program === "string" ? SHIPPED_CONGESTION_CONTROLS[program] ?? null : null;
  }

  /** Pure diff between the kernel and the resolved desired state. */
  diff(
    observed: Observed<CongestionControlState, CongestionControlMetaExtra> | null,
    desired: CongestionControlDesired,
  ): Change[] {
    return diffCongestionControl(observed, desired);
  }
}
