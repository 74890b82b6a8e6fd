/**
 * Scheduler: how MPTCP spreads data over the paths of one network namespace —
 * the scheduler its new connections get (`net.mptcp.scheduler`, including BPF
 * schedulers on kernels that have them) and the role of each path's subflows.
 *
 * @module
 */
import { checkedSpec } from "../engine/diagnostics.ts";
import type { Change, Observed, Resource } from "../engine/types.ts";
import { onePerTarget, type StackRule } from "../engine/stack.ts";
import { parseSpec } from "./common/zod_errors.ts";
import { PathManager } from "./path_manager.ts";
import { resolveModulePath } from "./path_manager/policy.ts";
import { stackFileDir } from "../engine/stack_file.ts";
import { schedulerSchema } from "./scheduler/schema.ts";
import type { SchedulerSpec, SchedulerSpecInput } from "./scheduler/spec.ts";
import { diffScheduler } from "./scheduler/diff.ts";
import type { SchedMemory, SchedResolved, SchedState } from "./scheduler/types.ts";

export type { SchedulerSpec, SchedulerSpecInput } from "./scheduler/spec.ts";
export type { SchedMemory, SchedResolved, SchedState } from "./scheduler/types.ts";

/** A user object's path made absolute against the stack file's directory. */
function withObjectPath(spec: SchedulerSpec): SchedulerSpec {
  const s = spec.scheduler;
  if (typeof s === "string") return spec;
  return { ...spec, scheduler: { ...s, object: resolveModulePath(s.object, stackFileDir()) } };
}

const netnsOf = (spec: { netns?: string }) => spec.netns ?? "(caller's netns)";

/** A PathManager endpoint on the path `match` names. */
function onPath(
  ep: { address: string; dev?: string },
  match: { dev: string } | { local: string },
): boolean {
  return "dev" in match ? ep.dev === match.dev : ep.address === match.local;
}

/**
 * In kernel-PM mode a role is the backup flag of the endpoints on the path:
 * a PathManager of the same stack declaring another flag there would undo it
 * at every apply. Refused naming both fields.
 */
function roleConflict(resources: readonly Resource[]) {
  for (const s of resources) {
    if (!(s instanceof Scheduler)) continue;
    for (const pm of resources) {
      if (!(pm instanceof PathManager) || pm.spec.mode === "userspace") continue;
      if (netnsOf(pm.spec) !== netnsOf(s.spec)) continue;
      for (const [i, path] of s.spec.paths.entries()) {
        const j = pm.spec.endpoints.findIndex((ep) =>
          onPath(ep, path.match) && ep.flags.includes("backup") !== (path.role === "backup")
        );
        if (j < 0) continue;
        const flag = pm.spec.endpoints[j].flags.includes("backup") ? "backup" : "no backup";
        return {
          resource: s.name,
          path: `paths[${i}].role`,
          message: `${path.role} conflicts with PathManager "${pm.name}" endpoints[${j}].flags ` +
            `(${flag}): in kernel-PM mode the role is that endpoint's backup flag`,
        };
      }
    }
  }
  return null;
}

/**
 * Declares how MPTCP schedules data in a netns. `scheduler` picks what new
 * connections get: the kernel's `default`, one of sockform's BPF schedulers
 * (`roundRobin`, `redundant`, `backupFirst`) or a BPF object of yours —
 * BPF schedulers need a kernel with `mptcp_sched_ops` struct_ops (plan
 * refuses otherwise). `paths` give each path's subflows a role: with the
 * in-kernel PM that is the backup flag of the path's endpoints; with the
 * userspace PM a sockform agent flips each subflow (and runs `failover`).
 * Destroy gives back `net.mptcp.scheduler` and every flag it changed.
 *
 * @example A client whose second uplink is a backup
 * ```ts
 * new Scheduler("uplinks", {
 *   netns: "/run/netns/client",
 *   paths: [{ match: { dev: "veth-a" }, role: "active" }, { match: { dev: "veth-b" }, role: "backup" }],
 * });
 * ```
 */
export class Scheduler
  implements Resource<SchedulerSpec, SchedResolved, SchedState | null, SchedMemory | null> {
  /** The kind's name, as plans and state directories spell it. */
  static readonly kind = "Scheduler";
  /** The kind's rules across a stack's resources, checked by `Stack.validate`. */
  static readonly stackRules: readonly StackRule[] = [
    onePerTarget(Scheduler, "netns", (r) => netnsOf(r.spec), "one scheduler per netns"),
    roleConflict,
  ];
  readonly kind: "Scheduler" = Scheduler.kind;
  readonly stackRules: readonly StackRule[] = Scheduler.stackRules;
  readonly spec: SchedulerSpec;
  readonly dependsOn: readonly string[];

  /** `name` is unique in the stack; `spec` is validated here (a bad one throws `SpecError`); `dependsOn` names resources to apply first. */
  constructor(
    readonly name: string,
    spec: SchedulerSpecInput,
    opts: { dependsOn?: string[] } = {},
  ) {
    this.spec = checkedSpec(
      this,
      spec,
      () => withObjectPath(parseSpec(schedulerSchema, spec, name)),
    );
    this.dependsOn = opts.dependsOn ?? [];
  }

  /**
   * The stack's PathManagers of the same netns: the mode (kernel or userspace
   * PM) and the endpoints the roles apply to are theirs, so they are applied
   * first and destroyed after, with no `dependsOn`.
   */
  follows(resources: readonly Resource[]): string[] {
    if (!this.spec) return [];
    return resources.filter((r): r is PathManager => r instanceof PathManager)
      .filter((pm) => pm.spec && netnsOf(pm.spec) === netnsOf(this.spec)).map((pm) => pm.name);
  }

  /** Pure diff between the kernel and the resolved desired state. */
  diff(
    observed: Observed<SchedState | null, SchedMemory | null> | null,
    desired: SchedResolved,
  ): Change[] {
    return diffScheduler(observed, desired);
  }
}
