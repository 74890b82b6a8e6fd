/**
 * Resolving a Scheduler spec against the live netns and kernel: the BPF
 * scheduler (BTF support, the object, a name another registered), the role
 * mode (the PathManager of the same netns in the stack, else the live
 * path-manager knob), each path's endpoints or local addresses, the roles
 * agent, and a Scheduler of another stack on the same netns. Every problem is
 * a `PlanError` naming the field.
 *
 * @module
 */
import type { DriverContext } from "../../engine/types.ts";
import { PlanError } from "../../engine/errors.ts";
import { hashJson } from "../../engine/hash.ts";
import type { Scheduler } from "../../resources/scheduler.ts";
import { PathManager } from "../../resources/path_manager.ts";
import { pathName, type SchedulerPath } from "../../resources/scheduler/schema.ts";
import {
  type BpfSchedulerDesired,
  type EndpointRole,
  linkPinName,
  type RoleMode,
  type SchedResolved,
  type SchedState,
} from "../../resources/scheduler/types.ts";
import { MPTCP, requireFeature } from "../system/features.ts";
import { listInterfaces, type NetInterface } from "../system/interfaces.ts";
import { assertNetnsExists } from "../system/netns.ts";
import { hasSysctl, readSysctl } from "../system/sysctl.ts";
import { bpfSchedulerSupport } from "./support.ts";
import {
  availableSchedulers,
  loadSchedulerSource,
  readSchedState,
  schedNetnsIno,
} from "./kernel.ts";
import { checkForeignOwner } from "./owner.ts";
import { userSchedulerObject } from "./user_object.ts";
import { resolveRolesAgent } from "./agent.ts";

async function bpfScheduler(
  r: Scheduler,
  netns: string | null,
): Promise<BpfSchedulerDesired | null> {
  const choice = r.spec.scheduler;
  if (choice === "default") return null;
  const support = bpfSchedulerSupport();
  if (!support.supported) throw new PlanError(r.name, "scheduler", support.reason);
  if (!hasSysctl("net.mptcp.scheduler", netns ?? undefined)) {
    throw new PlanError(
      r.name,
      "scheduler",
      "this kernel has no net.mptcp.scheduler (Linux ≥ 6.6)",
    );
  }
  if (typeof choice === "string") {
    const obj = await loadSchedulerSource({ shipped: choice }, "");
    return { source: { shipped: choice }, kernelName: obj.kernelName, objectHash: obj.objectHash };
  }
  const { map, kernelName, objectHash } = userSchedulerObject(r.name, choice);
  return { source: { object: choice.object, map }, kernelName, objectHash };
}

/** A BPF scheduler's name is global to the kernel: one registered by someone else is refused. */
function checkNameFree(
  r: Scheduler,
  bpf: BpfSchedulerDesired,
  baseline: SchedState,
  netns: string | null,
) {
  if (baseline.links.some((l) => l.kernelName === bpf.kernelName)) return;
  if (!availableSchedulers(netns).includes(bpf.kernelName)) return;
  throw new PlanError(
    r.name,
    "scheduler",
    `${bpf.kernelName} is already registered outside this resource (BPF schedulers are global ` +
      `to the kernel: one registration per name; this resource would pin ${
        linkPinName(bpf.kernelName)
      })`,
  );
}

function liveMode(netns: string | undefined): RoleMode {
  if (hasSysctl("net.mptcp.path_manager", netns)) {
    const v = readSysctl("net.mptcp.path_manager", netns).trim();
    return {
      mode: v === "userspace" ? "userspace" : "kernel",
      why: `net.mptcp.path_manager is ${v}`,
    };
  }
  const v = hasSysctl("net.mptcp.pm_type", netns)
    ? readSysctl("net.mptcp.pm_type", netns).trim()
    : "0";
  return { mode: v === "1" ? "userspace" : "kernel", why: `net.mptcp.pm_type is ${v}` };
}

/** The PathManager of the same netns in the stack decides; without one, the live knob. */
function roleMode(ctx: DriverContext, r: Scheduler): RoleMode {
  const where = r.spec.netns ?? null;
  const pm = (ctx.resources ?? []).find((o): o is PathManager =>
    o instanceof PathManager && (o.spec.netns ?? null) === where && o.spec.mode !== undefined
  );
  if (pm) {
    return { mode: pm.spec.mode!, why: `PathManager "${pm.name}" declares mode ${pm.spec.mode}` };
  }
  return liveMode(where ?? undefined);
}

function pathInterface(r: Scheduler, i: number, p: SchedulerPath, ifaces: NetInterface[]) {
  if (!("dev" in p.match)) return undefined;
  const dev = p.match.dev;
  const found = ifaces.find((f) => f.name === dev);
  if (found) return found;
  const names = ifaces.map((f) => f.name).join(", ") || "none";
  throw new PlanError(
    r.name,
    `paths[${i}].match.dev`,
    `no interface ${dev} in the netns (it has: ${names})`,
  );
}

/** The local addresses of each path: a device's (link-local ones left out), or the declared one. */
function pathLocals(r: Scheduler, ifaces: NetInterface[]): string[][] {
  return r.spec.paths.map((p, i) => {
    const f = pathInterface(r, i, p, ifaces);
    if (!f) return [(p.match as { local: string }).local];
    return f.addresses.map((a) => a.address).filter((a) => !a.startsWith("fe80:"));
  });
}

function kernelRoles(
  ctx: DriverContext,
  r: Scheduler,
  ifaces: NetInterface[],
  locals: string[][],
  baseline: SchedState,
): EndpointRole[] {
  const out: EndpointRole[] = [];
  r.spec.paths.forEach((p, i) => {
    const ifindex = pathInterface(r, i, p, ifaces)?.ifindex;
    const mine = baseline.endpoints.filter((e) =>
      locals[i].includes(e.address) || (ifindex !== undefined && e.ifindex === ifindex)
    );
    if (!mine.length) {
      ctx.reporter.warn(
        `${r.name}.paths[${i}]: no MPTCP endpoint on ${pathName(p.match)} yet: in kernel-PM mode ` +
          "its role is the backup flag of its endpoints, so it applies to none",
      );
    }
    for (const e of mine) {
      const { ifindex: _, ...ep } = e;
      out.push({ ...ep, backup: p.role === "backup", path: `paths[${i}]` });
    }
  });
  return out;
}

/**
 * Turns a Scheduler spec into the desired kernel state; throws `PlanError`
 * for what the kernel or the netns cannot do.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { DriverContext } from "../../engine/types.ts";
 * import type { Scheduler } from "../../resources/scheduler.ts";
 *
 * async function plan(ctx: DriverContext, resource: Scheduler) {
 *   return await resolveScheduler(ctx, resource);
 * }
 * ```
 */
export async function resolveScheduler(ctx: DriverContext, r: Scheduler): Promise<SchedResolved> {
  requireFeature(MPTCP, r.name, r.kind);
  const netns = r.spec.netns ?? null;
  if (netns) assertNetnsExists(r.name, "netns", netns);
  const netnsIno = schedNetnsIno(netns)!;
  checkForeignOwner(ctx, r, netnsIno);
  const baseline = readSchedState(netns, `${ctx.stackDir}/${r.name}`);
  const bpf = await bpfScheduler(r, netns);
  if (bpf) checkNameFree(r, bpf, baseline, netns);
  const mode = roleMode(ctx, r);
  if (r.spec.failover && mode.mode === "kernel") {
    throw new PlanError(
      r.name,
      "failover",
      `needs the userspace path manager (roles that follow live subflow state are flipped per ` +
        `subflow by the scheduler agent); this netns uses the in-kernel PM (${mode.why}), ` +
        "which has only endpoint-wide backup flags",
    );
  }
  const ifaces = await listInterfaces(netns ?? undefined);
  const locals = pathLocals(r, ifaces);
  const kernel = mode.mode === "kernel";
  return {
    netns,
    netnsIno,
    scheduler: baseline.scheduler === null && !bpf ? null : bpf?.kernelName ?? "default",
    bpf,
    mode,
    roles: kernel ? kernelRoles(ctx, r, ifaces, locals, baseline) : [],
    agent: kernel ? null : await resolveRolesAgent(ctx, r, locals),
    specHash: hashJson(r.spec),
    baseline,
  };
}
