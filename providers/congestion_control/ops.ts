/**
 * create / update / delete for CongestionControl. Registering is one kernel
 * call (a struct_ops link) whose pin keeps it registered; a new build with
 * the same name moves the link to the new map in one `bpf_link_update`.
 *
 * @module
 */
import type {
  CreateRequest,
  DeleteRequest,
  DriverContext,
  ResourceRef,
  Transaction,
  UpdateRequest,
} from "../../engine/types.ts";
import {
  type CongestionControlDesired,
  type CongestionControlMetaExtra,
  congestionControlOp,
  type CongestionControlState,
} from "../../resources/congestion_control.ts";
import { metaRecord } from "../../engine/meta.ts";
import { writeMetaStep } from "../state/meta.ts";
import { beginPinDir } from "../state/pin_dir.ts";
import { StructOpsLink, StructOpsObject } from "../libbpf/struct_ops.ts";
import { openPin } from "../libbpf/pins.ts";
import { Held, pinStep, replacePin } from "../bpf_kind/handles.ts";
import { congestionObject } from "./object.ts";
import { availableCongestion, mapLoaded, PIN } from "./kernel.ts";

type Desired = CongestionControlDesired;

function metaFor(ctx: DriverContext, ref: ResourceRef, desired: Desired) {
  const extra: CongestionControlMetaExtra = { ccName: desired.ccName };
  const hashes = { specHash: desired.specHash, objectHash: desired.objectHash };
  return metaRecord(ctx, ref, hashes, extra);
}

/** Loads the declared object with its struct_ops map ready for a link. */
function loadOps(ref: ResourceRef, desired: Desired): StructOpsObject {
  const spec = desired.source === "sfReno"
    ? { program: "sfReno" as const }
    : { program: { object: desired.source } };
  const obj = congestionObject(ref.name, spec);
  if (obj.objectHash !== desired.objectHash) {
    throw new Error(`${desired.source} changed since the plan: plan again`);
  }
  return StructOpsObject.load(obj.bytes, ref.name, obj.mapName);
}

/** Registers a new link and hands it to `pin` (a fresh pin or a pin swap), then closes our fd. */
function registerLink(ops: StructOpsObject, name: string, pin: (link: StructOpsLink) => void) {
  let link: StructOpsLink;
  try {
    link = ops.register();
  } catch (e) {
    if (!availableCongestion().includes(name)) throw e;
    throw new Error(`${name} is already registered by something else: ${(e as Error).message}`);
  }
  try {
    pin(link); // pinned: stays registered; unpinned by the undo: unregistered
  } finally {
    link.close();
  }
}

/**
 * Registers the congestion control and pins its link, then the metadata.
 *
 * @example Inside a driver step
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { CreateRequest } from "../../engine/types.ts";
 * import type { CongestionControlDesired } from "../../resources/congestion_control.ts";
 *
 * function create({ ctx, ref, desired, tx }: CreateRequest<CongestionControlDesired>) {
 *   return createCongestionControl({ ctx, ref, desired, tx });
 * }
 * ```
 */
export function createCongestionControl(
  { ctx, ref, desired, tx }: CreateRequest<Desired>,
): Promise<void> {
  beginPinDir(ref.dir, tx);
  const ops = loadOps(ref, desired);
  try {
    registerLink(ops, desired.ccName, (link) => pinStep(tx, link.fd, `${ref.dir}/${PIN.link}`));
  } finally {
    ops.close();
  }
  writeMetaStep(tx, ref.dir, metaFor(ctx, ref, desired));
  return Promise.resolve();
}

/**
 * The pinned link switches to the new build's map. There is no undo in the
 * kernel: switching the link back to the map it replaced hit a kernel BUG on
 * 6.18 (list corruption in tcp_update_congestion_control, with the congestion
 * control list's lock left held). A rollback restores the metadata only, so
 * the next plan sees the old build's hash and updates to a fresh map again.
 */
function updateMap(tx: Transaction, held: Held, ref: ResourceRef, desired: Desired) {
  const fd = openPin(`${ref.dir}/${PIN.link}`, "link");
  if (fd === null) throw new Error(`${ref.dir}/${PIN.link} is missing`);
  const link = held.hold(StructOpsLink.fromFd(fd));
  const ops = loadOps(ref, desired);
  try {
    tx.onRollback(
      `keep the new build of ${desired.ccName} registered (a replaced map is never registered again)`,
      () => {},
    );
    link.updateMap(ops.mapFd); // the link keeps the new map
  } finally {
    ops.close();
  }
}

/**
 * A new link in place of a missing, detached or unlisted one (nothing holds the
 * name then); the old link, if pinned, is closed at commit.
 */
function reRegister(tx: Transaction, held: Held, ref: ResourceRef, d: Desired) {
  const path = `${ref.dir}/${PIN.link}`;
  const ops = loadOps(ref, d);
  try {
    registerLink(ops, d.ccName, (link) => replacePin(tx, held, path, link.fd));
  } finally {
    ops.close();
  }
}

/**
 * Carries out the one operation the plan showed (`congestionControlOp`),
 * then rewrites the metadata.
 *
 * @example Inside a driver step
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { UpdateRequest } from "../../engine/types.ts";
 * import type {
 *   CongestionControlDesired,
 *   CongestionControlMetaExtra,
 *   CongestionControlState,
 * } from "../../resources/congestion_control.ts";
 *
 * type Req = UpdateRequest<CongestionControlDesired, CongestionControlState, CongestionControlMetaExtra>;
 * function update({ ctx, ref, observed, desired, changes, tx }: Req) {
 *   return updateCongestionControl({ ctx, ref, observed, desired, changes, tx });
 * }
 * ```
 */
export function updateCongestionControl(
  { ctx, ref, observed, desired, tx }: UpdateRequest<
    Desired,
    CongestionControlState,
    CongestionControlMetaExtra
  >,
): Promise<void> {
  const held = new Held(tx, ref.name);
  const op = congestionControlOp(observed, desired)?.op;
  if (op === "register") reRegister(tx, held, ref, desired);
  if (op === "update-map") updateMap(tx, held, ref, desired);
  writeMetaStep(tx, ref.dir, metaFor(ctx, ref, desired));
  return Promise.resolve();
}

const RELEASE_WAIT_MS = 2_000;
const POLL_MS = 20;

/**
 * After the delete's commit closed the link: waits (at most 2 s) until the
 * name has left the kernel's list, then says what remains. A congestion
 * control that carried traffic stays loaded while connections use it, so its
 * map is reported as releasing, never waited for.
 *
 * @example Registered after the pin directory's delete
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { DriverContext, Transaction } from "../../engine/types.ts";
 *
 * function releaseOnCommit(tx: Transaction, ctx: DriverContext, mapId: number): void {
 *   tx.onCommit("release sf_reno", () => awaitUnregistered(ctx, "sf_reno", mapId));
 * }
 * ```
 */
export async function awaitUnregistered(
  ctx: DriverContext,
  name: string,
  mapId: number,
): Promise<void> {
  const deadline = Date.now() + RELEASE_WAIT_MS;
  while (availableCongestion().includes(name) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  if (availableCongestion().includes(name)) {
    ctx.reporter.warn(`${name} is still registered 2 s after its link was released`);
  } else if (mapId && mapLoaded(mapId)) {
    ctx.reporter.warn(
      `${name} is unregistered; connections still using it keep it loaded (struct_ops map ${mapId}) until they close`,
    );
  }
}

/** What a delete needs: the name and map to watch after the commit. */
export function releaseOnCommit(
  { ctx, observed, tx }: Pick<
    DeleteRequest<CongestionControlState, CongestionControlMetaExtra>,
    "ctx" | "observed" | "tx"
  >,
): void {
  const name = observed.meta?.extra.ccName;
  if (!name) return;
  const mapId = observed.state?.link?.mapId ?? 0;
  tx.onCommit(`release ${name}`, () => awaitUnregistered(ctx, name, mapId));
}
