/**
 * The kernel driver for PathManager. Its state lives in netlink and sysctls;
 * the resource directory holds only the metadata pin, whose `extra` remembers
 * the netns as the stack found it (restored on destroy), which endpoints the
 * stack put there, and which limits and sysctls it manages.
 *
 * @module
 */
import type {
  CreateRequest,
  DeleteRequest,
  DriverContext,
  KindDriver,
  Observed,
  ResourceRef,
  Transaction,
  UpdateRequest,
} from "../../engine/types.ts";
import type { PathManager } from "../../resources/path_manager.ts";
import { type PmResolved, targetOf } from "../../resources/path_manager/diff.ts";
import { orderedOps, reconcile, restoreTarget } from "../../resources/path_manager/reconcile.ts";
import {
  asMemory,
  endpointKey,
  type LimitKey,
  type PmMemory,
  type PmState,
  upgradePmExtra,
} from "../../resources/path_manager/types.ts";
import { readKindMeta, readMeta, writeMeta, writeMetaStep } from "../state/meta.ts";
import { metaRecord } from "../../engine/meta.ts";
import { netnsInoOrNull, originalOf, readPmState, runPmOps } from "./kernel.ts";
import { resolvePathManager } from "./resolve.ts";
import { pathExists } from "../state/pin_dir.ts";

async function observe(_ctx: DriverContext, ref: ResourceRef) {
  if (!pathExists(ref.dir)) return null;
  const meta = readKindMeta(ref.dir, upgradePmExtra);
  if (!meta) return { meta: null, state: null };
  const memory = meta.extra ?? null;
  const state = await readPmState(memory?.netns ?? null);
  return { meta, state } as Observed<PmState | null, PmMemory | null>;
}

/** The memory after applying `desired`: the original is kept, ownership follows the spec. */
function nextMemory(previous: PmMemory | null, live: PmState, desired: PmResolved): PmMemory {
  const original = previous?.original ?? originalOf(live);
  const sysctls = Object.keys(desired.sysctls);
  // A sysctl managed for the first time since the stack took over: remember it as found.
  const originalSysctls = { ...live.sysctls, ...original.sysctls };
  return {
    netns: desired.netns,
    netnsIno: desired.netnsIno,
    original: { ...original, sysctls: originalSysctls },
    owned: desired.endpoints.map(endpointKey),
    managed: { limits: Object.keys(desired.limits) as LimitKey[], sysctls },
    exclusive: desired.exclusive,
  };
}

function writePmMeta(
  ctx: DriverContext,
  ref: ResourceRef,
  specHash: string,
  memory: PmMemory,
  tx: Transaction,
) {
  writeMetaStep(tx, ref.dir, metaRecord(ctx, ref, { specHash, objectHash: "" }, memory));
}

/**
 * Records the netns as found, then changes it. The metadata goes first so a
 * process killed halfway leaves a resource whose destroy still restores it.
 */
async function create({ ctx, ref, desired, tx }: CreateRequest<PmResolved>) {
  const live = await readPmState(desired.netns);
  Deno.mkdirSync(ref.dir, { recursive: true, mode: 0o700 });
  tx.onRollback(`remove ${ref.dir}`, () => Deno.removeSync(ref.dir, { recursive: true }));
  writePmMeta(ctx, ref, desired.specHash, nextMemory(null, live, desired), tx);
  runPmOps(desired.netns, orderedOps(reconcile(live, targetOf(desired), null)), tx);
}

async function update(
  { ctx, ref, observed, desired, tx }: UpdateRequest<PmResolved, PmState | null, PmMemory | null>,
) {
  const memory = asMemory(observed.meta?.extra);
  const live = await readPmState(desired.netns);
  writePmMeta(ctx, ref, desired.specHash, nextMemory(memory, live, desired), tx);
  runPmOps(desired.netns, orderedOps(reconcile(live, targetOf(desired), memory)), tx);
}

/** Gives the netns back as the stack found it, then removes the directory. */
async function remove(
  { ref, observed, tx }: DeleteRequest<PmState | null, PmMemory | null>,
) {
  const meta = readMeta(ref.dir); // as written: a rollback puts back exactly that
  const memory = asMemory(observed.meta?.extra);
  if (memory && netnsInoOrNull(memory.netns) === memory.netnsIno) {
    const live = await readPmState(memory.netns);
    runPmOps(memory.netns, orderedOps(reconcile(live, restoreTarget(memory), memory)), tx);
  }
  if (!pathExists(ref.dir)) return;
  Deno.removeSync(ref.dir, { recursive: true });
  if (meta) {
    tx.onRollback(`re-create ${ref.dir}`, () => {
      Deno.mkdirSync(ref.dir, { recursive: true, mode: 0o700 });
      writeMeta(ref.dir, meta);
    });
  }
}

function describe(
  _ctx: DriverContext,
  _ref: ResourceRef,
  observed: Observed<PmState | null, PmMemory | null>,
) {
  const state = observed.state;
  const memory = asMemory(observed.meta?.extra);
  if (!state) return Promise.resolve(null);
  const owned = new Set(memory?.owned ?? []);
  const endpoints = state.endpoints.map((e) => ({
    ...e,
    owner: e.flags.includes("implicit")
      ? "kernel (implicit)"
      : owned.has(endpointKey(e))
      ? "stack"
      : "other",
  }));
  const mode = state.sysctls["net.mptcp.path_manager"] ??
    (state.sysctls["net.mptcp.pm_type"] === "1" ? "userspace" : "kernel");
  return Promise.resolve({
    netns: state.netns ?? "(caller's netns)",
    netnsPresent: state.netnsIno !== null,
    mode,
    enabled: state.sysctls["net.mptcp.enabled"] === "1",
    limits: state.limits,
    endpoints,
    original: memory?.original ?? null,
  });
}

/**
 * The PathManager kernel driver.
 *
 * @example Resolving a resource by hand
 * ```ts
 * const desired = await pathManagerDriver.resolve(ctx, new PathManager("pm", { netns }));
 * ```
 */
export const pathManagerDriver: KindDriver<
  PathManager,
  PmResolved,
  PmState | null,
  PmMemory | null
> = {
  kind: "PathManager",
  resolve: resolvePathManager,
  observe,
  create,
  update,
  delete: remove,
  describe,
};
