/**
 * PathManager: MPTCP path management of one network namespace, declared once
 * and kept in line with the kernel over generic netlink — endpoints, limits,
 * the path-manager mode and the `net.mptcp.*` sysctls.
 *
 * @module
 */
import { checkedSpec } from "../engine/diagnostics.ts";
import type { Change, Observed, Resource } from "../engine/types.ts";
import { onePerTarget, type StackRule } from "../engine/stack.ts";
import { parseSpec } from "./common/zod_errors.ts";
import {
  pathManagerSchema,
  type PathManagerSpec,
  type PathManagerSpecInput,
} from "./path_manager/schema.ts";
import { diffPathManager, type PmResolved } from "./path_manager/diff.ts";
import type { PmMemory, PmState } from "./path_manager/types.ts";
import { resolveModulePath } from "./path_manager/policy.ts";
import { stackFileDir } from "../engine/stack_file.ts";

export type { PathManagerSpec, PathManagerSpecInput } from "./path_manager/schema.ts";
export type { PmResolved } from "./path_manager/diff.ts";
export type { PmDesired, PmEndpoint, PmMemory, PmState } from "./path_manager/types.ts";

/** A policy module's path made absolute against the stack file's directory. */
function withModulePath(spec: PathManagerSpec): PathManagerSpec {
  const policy = spec.policy;
  if (!policy || !("module" in policy)) return spec;
  return {
    ...spec,
    policy: { ...policy, module: resolveModulePath(policy.module, stackFileDir()) },
  };
}

/**
 * Declares a netns's MPTCP path management. Endpoints not declared are
 * removed (`exclusive: true`, the default) or left alone (`exclusive: false`);
 * destroy gives the netns back its endpoints, limits and sysctls as they were
 * before the stack took over.
 *
 * With `mode: "userspace"` and a `policy`, a sockform agent process runs the
 * policy in the netns (ndiffports, fullmesh or a module of the user's, its
 * path relative to the stack file) over the declared `locals`; `plan` reads
 * its liveness, `apply` (re)starts it, `destroy` stops it and gives the netns
 * its path-manager mode back.
 *
 * @example A programmable client: three subflows per connection
 * ```ts
 * new PathManager("client-pm", {
 *   netns: "/run/netns/client",
 *   mode: "userspace",
 *   policy: { builtin: "ndiffports", subflows: 3 },
 *   locals: [{ address: "10.1.2.1", id: 2 }],
 * });
 * ```
 *
 * @example A client with a subflow endpoint on its second path
 * ```ts
 * new PathManager("client-pm", {
 *   netns: "/run/netns/client",
 *   mode: "kernel",
 *   limits: { subflows: 2, addAddrAccepted: 2 },
 *   endpoints: [{ address: "10.1.3.1", dev: "veth-b", flags: ["subflow"] }],
 *   sysctls: { enabled: true },
 * });
 * ```
 */
export class PathManager
  implements Resource<PathManagerSpec, PmResolved, PmState | null, PmMemory | null> {
  /** The kind's name, as plans and state directories spell it. */
  static readonly kind = "PathManager";
  /** The kind's rules across a stack's resources, checked by `Stack.validate`. */
  static readonly stackRules: readonly StackRule[] = [
    onePerTarget(
      PathManager,
      "netns",
      (r) => r.spec.netns ?? "(caller's netns)",
      "one path manager per netns",
    ),
  ];
  readonly kind: "PathManager" = PathManager.kind;
  readonly stackRules: readonly StackRule[] = PathManager.stackRules;
  readonly spec: PathManagerSpec;
  readonly dependsOn: readonly string[];

  /** `name` is unique in the stack; `spec` is validated here (a bad one throws `SpecError`); `dependsOn` names resources to apply first. */
  constructor(
    readonly name: string,
    spec: PathManagerSpecInput,
    opts: { dependsOn?: string[] } = {},
  ) {
    this.spec = checkedSpec(
      this,
      spec,
      () => withModulePath(parseSpec(pathManagerSchema, spec, name)),
    );
    this.dependsOn = opts.dependsOn ?? [];
  }

  /** Pure diff between the kernel and the resolved desired state. */
  diff(observed: Observed<PmState | null, PmMemory | null> | null, desired: PmResolved): Change[] {
    return diffPathManager(observed, desired);
  }
}
