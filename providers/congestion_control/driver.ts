/**
 * The kernel driver for CongestionControl: resolve the object and the name it
 * registers under, read the link back, create/update/delete.
 *
 * @module
 */
import type { DriverContext, KindDriver } from "../../engine/types.ts";
import {
  CongestionControl,
  type CongestionControlDesired,
  type CongestionControlMetaExtra,
  type CongestionControlState,
  upgradeCongestionControlExtra,
} from "../../resources/congestion_control.ts";
import { PlanError } from "../../engine/errors.ts";
import { hashJson } from "../../engine/hash.ts";
import { pinDirKind } from "../bpf_kind/pin_dir_kind.ts";
import { btfStructNames, VMLINUX_BTF } from "../system/btf.ts";
import { type Feature, probe, requireFeature } from "../system/features.ts";
import { releaseAtLeast } from "../tcp_tuning/system.ts";
import { congestionObject } from "./object.ts";
import { availableCongestion, PIN, readState, registeredMapId } from "./kernel.ts";
import { createCongestionControl, releaseOnCommit, updateCongestionControl } from "./ops.ts";

/**
 * BPF congestion controls (BTF type bpf_struct_ops_tcp_congestion_ops) registered by
 * a struct_ops link, which 6.4 added together with the link update that swaps a
 * registered one in place (tcp_update_congestion_control): where create works, a
 * new build is hitless.
 */
export const CONGESTION_CONTROL_KERNEL: Feature = probe(
  "BPF tcp_congestion_ops registered by struct_ops links",
  "6.4",
  () =>
    releaseAtLeast(Deno.osRelease(), 6, 4) &&
    btfStructNames(Deno.readFileSync(VMLINUX_BTF)).has("bpf_struct_ops_tcp_congestion_ops"),
);

async function resolve(
  ctx: DriverContext,
  resource: CongestionControl,
): Promise<CongestionControlDesired> {
  const { name, spec } = resource;
  requireFeature(CONGESTION_CONTROL_KERNEL, name, CongestionControl.kind);
  const obj = congestionObject(name, spec);
  // Listed but not by our link: someone else holds the name, and the kernel keeps names unique.
  const ours = registeredMapId(`${ctx.stackDir}/${name}/${PIN.link}`);
  if (availableCongestion().includes(obj.ccName) && !ours) {
    const reason = `congestion control ${obj.ccName} is already registered by something else ` +
      "(net.ipv4.tcp_available_congestion_control lists it; this resource's link does not hold it)";
    throw new PlanError(name, "program", reason);
  }
  return await Promise.resolve({
    ccName: obj.ccName,
    source: obj.source,
    objectHash: obj.objectHash,
    mapName: obj.mapName,
    specHash: hashJson(spec),
  });
}

const pinDir = pinDirKind({
  readState,
  upgrade: upgradeCongestionControlExtra,
  pins: [PIN.link],
});

/**
 * The CongestionControl kernel driver.
 *
 * @example Looking it up the way the state store does
 * ```ts
 * import { kernelDriver } from "../kinds.ts";
 * kernelDriver("CongestionControl") === congestionControlDriver; // true
 * ```
 */
export const congestionControlDriver: KindDriver<
  CongestionControl,
  CongestionControlDesired,
  CongestionControlState,
  CongestionControlMetaExtra
> = {
  kind: CongestionControl.kind,
  resolve,
  observe: pinDir.observe,
  create: createCongestionControl,
  update: updateCongestionControl,
  delete: async (req) => {
    await pinDir.delete(req);
    releaseOnCommit(req); // after the pin directory's commit closed the link
  },
  describe: (_ctx, _ref, observed) =>
    Promise.resolve({ name: observed.meta?.extra.ccName ?? null, link: observed.state.link }),
};
