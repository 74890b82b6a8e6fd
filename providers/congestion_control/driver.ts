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
import { congestionObject } from "./object.ts";
import { availableCongestion, PIN, readState, registeredMapId } from "./kernel.ts";
import { createCongestionControl, releaseOnCommit, updateCongestionControl } from "./ops.ts";

/** The BTF type a kernel that takes BPF congestion controls has. */
const STRUCT_OPS_TYPE = "bpf_struct_ops_tcp_congestion_ops";

function requireStructOps(name: string): void {
  let structs: Set<string>;
  try {
    structs = btfStructNames(Deno.readFileSync(VMLINUX_BTF));
  } catch (e) {
    throw new PlanError(name, "program", `cannot read ${VMLINUX_BTF}: ${(e as Error).message}`);
  }
  if (!structs.has(STRUCT_OPS_TYPE)) {
    const reason = `needs a kernel with BPF congestion controls (BTF type ${STRUCT_OPS_TYPE})`;
    throw new PlanError(name, "program", reason);
  }
}

async function resolve(
  ctx: DriverContext,
  resource: CongestionControl,
): Promise<CongestionControlDesired> {
  const { name, spec } = resource;
  requireStructOps(name);
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
