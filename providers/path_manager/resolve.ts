/**
 * Resolving a PathManager spec against the live netns: interfaces for `dev`,
 * addresses and `fromInterfaces`, the kernel's limit maximum, flags this
 * kernel has, the mode knob and MPTCP being enabled. Every problem is a
 * `PlanError` naming the field.
 *
 * @module
 */
import type { DriverContext } from "../../engine/types.ts";
import type { PathManager } from "../../resources/path_manager.ts";
import type { PmResolved } from "../../resources/path_manager/diff.ts";
import type { DesiredEndpoint, PmLimits } from "../../resources/path_manager/types.ts";
import { endpointKey } from "../../resources/path_manager/types.ts";
import { expandFromInterfaces } from "../../resources/path_manager/from_interfaces.ts";
import { SYSCTL_FIELDS, type SysctlField } from "../../resources/path_manager/schema.ts";
import { PlanError } from "../../engine/errors.ts";
import { hashJson } from "../../engine/hash.ts";
import {
  featureProblem,
  kernelRelease,
  MPTCP,
  MPTCP_LAMINAR,
  requireFeature,
} from "../system/features.ts";
import { listInterfaces, type NetInterface } from "../system/interfaces.ts";
import { probeLimitMax } from "../netlink/mptcp_pm.ts";
import { assertNetnsExists } from "../system/netns.ts";
import { hasSysctl, readSysctl } from "../system/sysctl.ts";
import { netnsInoOrNull, readPmState } from "./kernel.ts";
import { resolveAgent } from "./agent.ts";

type Spec = PathManager["spec"];

function listNames(interfaces: NetInterface[]): string {
  return interfaces.map((i) => i.name).join(", ") || "none";
}

function explicitEndpoints(r: PathManager, interfaces: NetInterface[]): DesiredEndpoint[] {
  const where = r.spec.netns ?? "the caller's netns";
  return r.spec.endpoints.map((ep, i) => {
    const path = `endpoints[${i}]`;
    const carrier = interfaces.find((f) => f.addresses.some((a) => a.address === ep.address));
    if (!carrier) {
      throw new PlanError(
        r.name,
        `${path}.address`,
        `no interface in ${where} carries ${ep.address}`,
      );
    }
    let ifindex: number | undefined;
    if (ep.dev !== undefined) {
      ifindex = interfaces.find((f) => f.name === ep.dev)?.ifindex;
      if (ifindex === undefined) {
        throw new PlanError(
          r.name,
          `${path}.dev`,
          `no interface ${ep.dev} in ${where} (it has: ${listNames(interfaces)})`,
        );
      }
    }
    return { ...ep, flags: [...ep.flags], ...(ifindex ? { ifindex } : {}), path };
  });
}

function allEndpoints(r: PathManager, interfaces: NetInterface[]): DesiredEndpoint[] {
  const explicit = explicitEndpoints(r, interfaces);
  if (!r.spec.fromInterfaces) return explicit;
  const taken = new Set(explicit.map(endpointKey));
  // A declared endpoint wins over the one fromInterfaces would make for the same address.
  const found = expandFromInterfaces(r.spec.fromInterfaces, interfaces)
    .filter((e) => !taken.has(endpointKey(e)));
  return [...explicit, ...found];
}

function checkFlagsSupported(r: PathManager): void {
  const explicit = r.spec.endpoints.findIndex((e) => e.flags.includes("laminar"));
  const uses = explicit >= 0
    ? `endpoints[${explicit}].flags`
    : r.spec.fromInterfaces?.flags.includes("laminar")
    ? "fromInterfaces.flags"
    : null;
  // Older kernels silently drop the bit, which would show as drift forever.
  if (!uses) return;
  const problem = featureProblem(MPTCP_LAMINAR, "the laminar flag");
  if (problem) throw new PlanError(r.name, uses, problem);
}

let limitMax: number | undefined;

function checkLimits(r: PathManager, netns: string | undefined): Partial<PmLimits> {
  const limits = r.spec.limits ?? {};
  const declared = Object.entries(limits).filter(([, v]) => v !== undefined);
  if (!declared.length) return {};
  limitMax ??= probeLimitMax(netns);
  for (const [key, value] of declared) {
    if (value! > limitMax) {
      throw new PlanError(
        r.name,
        `limits.${key}`,
        `${value} is above the kernel's maximum (${limitMax})`,
      );
    }
  }
  return Object.fromEntries(declared) as Partial<PmLimits>;
}

function modeSysctl(r: PathManager, netns: string | undefined): [string, string] | null {
  const mode = r.spec.mode;
  if (!mode) return null;
  if (hasSysctl("net.mptcp.available_path_managers", netns)) {
    const available = readSysctl("net.mptcp.available_path_managers", netns).split(/\s+/);
    if (!available.includes(mode)) {
      throw new PlanError(
        r.name,
        "mode",
        `${mode} is not among this kernel's path managers (${available.join(", ")})`,
      );
    }
  }
  if (hasSysctl("net.mptcp.path_manager", netns)) return ["net.mptcp.path_manager", mode];
  if (hasSysctl("net.mptcp.pm_type", netns)) {
    return ["net.mptcp.pm_type", mode === "kernel" ? "0" : "1"];
  }
  throw new PlanError(
    r.name,
    "mode",
    "this kernel has neither net.mptcp.path_manager nor net.mptcp.pm_type (Linux ≥ 5.19)",
  );
}

function sysctlTargets(r: PathManager, netns: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, value] of Object.entries(r.spec.sysctls)) {
    if (value === undefined) continue;
    const { sysctl } = SYSCTL_FIELDS[field as SysctlField];
    if (!hasSysctl(sysctl, netns)) {
      throw new PlanError(
        r.name,
        `sysctls.${field}`,
        `this kernel (${kernelRelease()}) has no ${sysctl}`,
      );
    }
    out[sysctl] = typeof value === "boolean" ? (value ? "1" : "0") : String(value);
  }
  const mode = modeSysctl(r, netns);
  if (mode) out[mode[0]] = mode[1];
  return out;
}

function checkEnabled(r: PathManager, endpoints: DesiredEndpoint[], netns: string | undefined) {
  if (!endpoints.length || r.spec.sysctls.enabled === true) return;
  if (readSysctl("net.mptcp.enabled", netns) !== "0") return;
  throw new PlanError(
    r.name,
    "endpoints",
    `MPTCP is disabled in ${
      r.spec.netns ?? "the caller's netns"
    } (net.mptcp.enabled = 0) while endpoints are declared; ` +
      "set sysctls.enabled: true to enable it",
  );
}

function warnings(ctx: DriverContext, r: PathManager, endpoints: DesiredEndpoint[], spec: Spec) {
  if (spec.mode === "userspace" && endpoints.length) {
    ctx.reporter.warn(
      `${r.name}: in userspace mode the in-kernel endpoints are not used to create subflows`,
    );
  }
}

/**
 * Turns a PathManager spec into the desired kernel state, reading the netns
 * it targets; throws `PlanError` for what the kernel or the netns cannot do.
 *
 * @example Planning one resource
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { DriverContext } from "../../engine/types.ts";
 * import type { PathManager } from "../../resources/path_manager.ts";
 *
 * async function plan(ctx: DriverContext, resource: PathManager) {
 *   return await resolvePathManager(ctx, resource);
 * }
 * ```
 */
export async function resolvePathManager(ctx: DriverContext, r: PathManager): Promise<PmResolved> {
  requireFeature(MPTCP, r.name, r.kind);
  const netns = r.spec.netns ?? null;
  if (netns) assertNetnsExists(r.name, "netns", netns);
  const ns = netns ?? undefined;
  const interfaces = await listInterfaces(ns);
  const endpoints = allEndpoints(r, interfaces);
  checkFlagsSupported(r);
  const limits = checkLimits(r, ns);
  const sysctls = sysctlTargets(r, ns);
  checkEnabled(r, endpoints, ns);
  warnings(ctx, r, endpoints, r.spec);
  return {
    netns,
    netnsIno: netnsInoOrNull(netns)!,
    endpoints,
    limits,
    sysctls,
    exclusive: r.spec.exclusive,
    specHash: hashJson(r.spec),
    agent: await resolveAgent(ctx, r),
    baseline: await readPmState(netns, interfaces),
  };
}
