/**
 * The kernel driver for MptcpifyHook: preflight (the hook in BTF, MPTCP on,
 * fmod_ret allowed), cgroup ids, reading pins, and create/update/delete.
 *
 * @module
 */
import type { DriverContext, KindDriver, Observed, ResourceRef } from "../../engine/types.ts";
import type { MptcpifyHook, MptcpifyState } from "../../resources/mptcpify_hook.ts";
import {
  desiredState,
  familyNames,
  type MptcpifyMetaExtra,
  upgradeMptcpifyExtra,
} from "../../resources/mptcpify_hook/desired.ts";
import { PlanError } from "../../engine/errors.ts";
import { hashJson } from "../../engine/hash.ts";
import * as gen from "../../bpf/gen/mptcpify.ts";
import {
  featureProblem,
  has,
  kernelRelease,
  probeFeature,
  UPDATE_SOCKET_PROTOCOL,
} from "../system/features.ts";
import { readSysctl } from "../system/sysctl.ts";
import { pinDirKind } from "../bpf_kind/pin_dir_kind.ts";
import { foreignOnFunction } from "../libbpf/attachments_trace.ts";
import { cgroupV2Id } from "../system/cgroup.ts";
import { MAP_PINS, PIN, readState, readStats } from "./kernel.ts";
import { createHook, loadProgram, type MptcpifyDriverDesired, updateHook } from "./ops.ts";

/** Why this kernel cannot run the hook, or null when it can. */
function missingRequirement(): string | null {
  if (!has(UPDATE_SOCKET_PROTOCOL)) return "its BTF has no update_socket_protocol";
  let enabled: string;
  try {
    enabled = readSysctl("net.mptcp.enabled");
  } catch {
    return "it has no MPTCP (no net.mptcp.enabled sysctl)";
  }
  return enabled === "1" ? null : `net.mptcp.enabled is ${enabled}`;
}

let loadRefusal: string | null | undefined;

/** Loads (and frees) the program once per process: a refusal shows at plan time. */
function probeLoad(): string | null {
  if (loadRefusal === undefined) {
    try {
      loadProgram().close();
      loadRefusal = null;
    } catch (e) {
      loadRefusal = e instanceof Error ? e.message.split("\n")[0] : String(e);
    }
  }
  return loadRefusal;
}

/**
 * Plan-time checks: the kernel has the hook and MPTCP, and lets the program load.
 * Throws `PlanError` with the reason.
 *
 * @example On Debian bookworm (6.1)
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function check(): void {
 *   preflight("legacy-apps");
 *   // PlanError: legacy-apps: MptcpifyHook needs Linux ≥ 6.6 with MPTCP enabled (this kernel: 6.1.0-56-amd64): ...
 * }
 * ```
 */
export function preflight(resource: string): void {
  const probed = probeFeature(UPDATE_SOCKET_PROTOCOL);
  if (probed.status === "probe-failed") {
    throw new PlanError(resource, "", featureProblem(UPDATE_SOCKET_PROTOCOL, "MptcpifyHook")!);
  }
  const missing = missingRequirement();
  if (missing) {
    throw new PlanError(
      resource,
      "",
      `MptcpifyHook needs Linux ≥ ${UPDATE_SOCKET_PROTOCOL.minKernel} with MPTCP enabled (this kernel: ${kernelRelease()}): ${missing}`,
    );
  }
  const refused = probeLoad();
  if (refused) throw new PlanError(resource, "", refused);
}

function cgroupIds(resource: MptcpifyHook): Record<string, string> {
  const ids: Record<string, string> = {};
  for (const side of ["scope", "exclude"] as const) {
    // No index in the field: the normalised spec sorts the list, so an index
    // would point at a different entry than the user wrote; the path names it.
    for (const path of resource.spec[side].cgroups) {
      ids[path] = cgroupV2Id(
        resource.name,
        `${side}.cgroups`,
        path,
        "the hook matches only cgroup v2 ids",
      );
    }
  }
  return ids;
}

function resolve(_ctx: DriverContext, resource: MptcpifyHook): Promise<MptcpifyDriverDesired> {
  // The spec's own paths first: a wrong cgroup is the user's to fix on any kernel.
  const ids = cgroupIds(resource);
  preflight(resource.name);
  return Promise.resolve({
    objectHash: gen.objectHash,
    ...desiredState(resource.spec, ids),
    cgroupPaths: Object.fromEntries(Object.entries(ids).map(([path, id]) => [id, path])),
    specHash: hashJson(resource.spec),
  });
}

function describe(
  _ctx: DriverContext,
  ref: ResourceRef,
  observed: Observed<MptcpifyState, MptcpifyMetaExtra>,
) {
  const s = observed.state;
  return Promise.resolve({
    link: s.link,
    families: s.config ? familyNames(s.config.families) : [],
    scope: s.config?.matchAll ? "every TCP socket" : "listed",
    entries: Object.fromEntries(Object.entries(s.entries).map(([m, e]) => [m, Object.keys(e)])),
    counters: readStats(ref.dir),
  });
}

/**
 * The MptcpifyHook kernel driver.
 *
 * @example Looking it up as the engine does
 * ```ts
 * import { kernelDriver } from "../kinds.ts";
 * const driver = kernelDriver("MptcpifyHook");
 * ```
 */
export const mptcpifyHookDriver: KindDriver<
  MptcpifyHook,
  MptcpifyDriverDesired,
  MptcpifyState,
  MptcpifyMetaExtra
> = {
  kind: "MptcpifyHook",
  resolve,
  ...pinDirKind({ readState, upgrade: upgradeMptcpifyExtra, pins: [PIN.link, ...MAP_PINS] }),
  create: createHook,
  update: updateHook,
  foreign: (ctx, ref) => Promise.resolve(foreignOnFunction(ctx, ref)),
  describe,
};
