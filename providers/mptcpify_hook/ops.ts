/**
 * The MptcpifyHook apply operations, each registering its undo; plus the one
 * place that turns a kernel's refusal of fmod_ret programs into a plain error.
 *
 * @module
 */
import type { CreateRequest, ResourceRef, Transaction, UpdateRequest } from "../../engine/types.ts";
import type { MptcpifyDesired, MptcpifyState } from "../../resources/mptcpify_hook.ts";
import type { MptcpifyMetaExtra } from "../../resources/mptcpify_hook/desired.ts";
import { entryEdits, mptcpifyActions } from "../../resources/mptcpify_hook/diff.ts";
import * as gen from "../../bpf/gen/mptcpify.ts";
import type { BpfObject } from "../libbpf/object.ts";
import { BpfLink } from "../libbpf/link.ts";
import { BpfMap } from "../libbpf/map.ts";
import { pinFd, unpin } from "../libbpf/pins.ts";
import { loadObject, loadOnPinnedMaps } from "../bpf_kind/program.ts";
import { KernelCallError } from "../system/errno.ts";
import { writeMetaStep } from "../state/meta.ts";
import { metaRecord } from "../../engine/meta.ts";
import { MAP_PINS, PIN, SCOPE_MAPS, syncEntries, writeConfig } from "./kernel.ts";
import { beginPinDir, openMapForApply } from "../state/pin_dir.ts";
import { awaitProgramsFreed, programIdOf } from "../libbpf/release.ts";

/** The driver's desired state: the pure part plus the spec hash for the metadata. */
export type MptcpifyDriverDesired = MptcpifyDesired & { specHash: string };
type Desired = MptcpifyDriverDesired;

const EPERM = 1;

/** What a kernel that forbids BPF trampolines gets told, instead of a stack trace. */
export const REFUSED_MESSAGE =
  "MptcpifyHook: this kernel refused the fmod_ret program (EPERM): a lockdown or LSM policy forbids BPF trampolines here";

/**
 * A plain error for an EPERM from loading or attaching; other errors pass through.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { BpfObject } from "../libbpf/object.ts";
 *
 * function load(obj: BpfObject): void {
 *   try { obj.load(); } catch (e) { throw explainRefusal(e); }
 * }
 * ```
 */
export function explainRefusal(e: unknown): unknown {
  if (e instanceof KernelCallError && e.errno === EPERM) return new Error(REFUSED_MESSAGE);
  return e;
}

/**
 * Opens and loads the embedded program, reusing the given pinned maps (by map name → fd).
 * A refusal becomes `REFUSED_MESSAGE`.
 *
 * @example Probing whether this kernel lets the program load
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function probeLoad(): void {
 *   loadProgram().close();
 * }
 * ```
 */
export function loadProgram(reuse: Record<string, number> = {}): BpfObject {
  return loadObject(gen.object, "mptcpify", reuse, explainRefusal);
}

function attach(obj: BpfObject): BpfLink {
  try {
    return BpfLink.attachTrace(obj.program(gen.programs.mptcpify));
  } catch (e) {
    throw explainRefusal(e);
  }
}

function writeHookMeta({ ctx, ref, desired, tx }: CreateRequest<Desired>) {
  const extra: MptcpifyMetaExtra = { cgroupPaths: desired.cgroupPaths };
  writeMetaStep(tx, ref.dir, metaRecord(ctx, ref, desired, extra));
}

const NO_ENTRIES = { cgroups: {}, comms: {}, uids: {} };

/**
 * Loads, fills the maps, pins them, attaches and pins the link; the metadata pin goes last.
 *
 * @example Inside a driver's create
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { CreateRequest } from "../../engine/types.ts";
 *
 * async function create({ ctx, ref, desired, tx }: CreateRequest<MptcpifyDriverDesired>) {
 *   await createHook({ ctx, ref, desired, tx });
 * }
 * ```
 */
export function createHook({ ctx, ref, desired, tx }: CreateRequest<Desired>): Promise<void> {
  beginPinDir(ref.dir, tx);
  const obj = loadProgram();
  try {
    const maps = Object.fromEntries(
      SCOPE_MAPS.map((name) => [name, new BpfMap(obj.mapFd(gen.maps[name]), false)]),
    ) as Record<(typeof SCOPE_MAPS)[number], BpfMap>;
    const config = new BpfMap(obj.mapFd(gen.maps.config), false);
    syncEntries(maps, entryEdits(NO_ENTRIES, desired.entries), null, () => {
      writeConfig(config, desired.config, null, null);
    });
    for (const name of MAP_PINS) pinFd(obj.mapFd(gen.maps[name]), `${ref.dir}/${name}`);
    attach(obj).pinAndClose(`${ref.dir}/${PIN.link}`);
    writeHookMeta({ ctx, ref, desired, tx });
  } finally {
    obj.close();
  }
  return Promise.resolve();
}

/**
 * Attaches a fresh link (new program build, or the old link pin is gone)
 * before the old one goes: the old link stays attached until commit.
 */
function replaceLink(ref: ResourceRef, tx: Transaction): void {
  const maps = Object.fromEntries(MAP_PINS.map((name) => [name, gen.maps[name]]));
  const obj = loadOnPinnedMaps(ref.dir, maps, loadProgram);
  tx.onCommit("release the program object", () => obj.close());
  const fresh = attach(obj);
  const old = BpfLink.openPinned(`${ref.dir}/${PIN.link}`);
  const freshProgram = programIdOf(fresh.fd);
  const oldProgram = old ? programIdOf(old.fd) : null;
  // Registered before the pin moves. Both waits matter: two programs on one
  // hook is not a resting state.
  tx.onRollback("put the old link back", () => {
    unpin(`${ref.dir}/${PIN.link}`);
    old?.pin(`${ref.dir}/${PIN.link}`);
    fresh.close();
    old?.close();
    obj.close();
    return awaitProgramsFreed(freshProgram === null ? [] : [freshProgram]);
  });
  unpin(`${ref.dir}/${PIN.link}`);
  fresh.pin(`${ref.dir}/${PIN.link}`);
  tx.onCommit("release the old link", () => {
    fresh.close();
    old?.close();
    return awaitProgramsFreed(oldProgram === null ? [] : [oldProgram]);
  });
}

/**
 * Runs the operations of the plan's actions (resources/mptcpify_hook/diff.ts):
 * a new link when the plan attaches one or loads a new build, then the scope
 * map edits in a safe order around the config write, then metadata.
 *
 * @example Inside a driver's update
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { UpdateRequest } from "../../engine/types.ts";
 * import type { MptcpifyState } from "../../resources/mptcpify_hook.ts";
 * import type { MptcpifyMetaExtra } from "../../resources/mptcpify_hook/desired.ts";
 *
 * type Req = UpdateRequest<MptcpifyDriverDesired, MptcpifyState, MptcpifyMetaExtra>;
 * async function update({ ctx, ref, observed, desired, changes, tx }: Req) {
 *   await updateHook({ ctx, ref, observed, desired, changes, tx });
 * }
 * ```
 */
export function updateHook(
  { ctx, ref, observed, desired, tx }: UpdateRequest<Desired, MptcpifyState, MptcpifyMetaExtra>,
): Promise<void> {
  const ops = mptcpifyActions(observed, desired).map((a) => a.op);
  if (ops.some((o) => o.op === "attach-link" || o.op === "load-program")) replaceLink(ref, tx);
  const edits = ops.flatMap((o) => o.op === "edit-entry" ? [o.edit] : []);
  const maps = Object.fromEntries(
    SCOPE_MAPS.map((name) => [name, openMapForApply(ref.dir, name, tx)]),
  ) as Record<(typeof SCOPE_MAPS)[number], BpfMap>;
  const config = openMapForApply(ref.dir, PIN.config, tx);
  syncEntries(maps, edits, tx, () => {
    if (ops.some((o) => o.op === "write-config")) {
      writeConfig(config, desired.config, observed.state.config, tx);
    }
  });
  writeHookMeta({ ctx, ref, desired, tx });
  return Promise.resolve();
}
