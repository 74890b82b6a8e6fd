/**
 * The kernel driver for Scheduler. Its state is `net.mptcp.scheduler`, the
 * struct_ops links pinned in the resource directory (one per BPF scheduler
 * it registered, `link_<name>`), the endpoints' backup flags (kernel-PM mode)
 * and the roles agent (userspace-PM mode). The metadata remembers the
 * scheduler and flags it found, given back on destroy.
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
import type { Scheduler } from "../../resources/scheduler.ts";
import { orderedSchedOps, schedActions } from "../../resources/scheduler/diff.ts";
import { restoreActions } from "../../resources/scheduler/restore.ts";
import {
  roleKey,
  type SchedMemory,
  type SchedResolved,
  type SchedState,
  upgradeSchedExtra,
} from "../../resources/scheduler/types.ts";
import type { PmAgentOp } from "../../resources/path_manager/agent_diff.ts";
import { readKindMeta, readMeta, writeMeta, writeMetaStep } from "../state/meta.ts";
import { metaRecord } from "../../engine/meta.ts";
import { pathExists } from "../state/pin_dir.ts";
import type { AgentIdentity } from "../mptcp_agent/identity.ts";
import { observeAgent, startPmAgent, stopPmAgent } from "../path_manager/agent.ts";
import { availableSchedulers, readSchedState, runSchedOps, schedNetnsIno } from "./kernel.ts";
import { resolveScheduler } from "./resolve.ts";

type Obs = Observed<SchedState | null, SchedMemory | null>;

function observe(_ctx: DriverContext, ref: ResourceRef): Promise<Obs | null> {
  if (!pathExists(ref.dir)) return Promise.resolve(null);
  const meta = readKindMeta(ref.dir, upgradeSchedExtra);
  if (!meta) return Promise.resolve({ meta: null, state: null });
  const memory = meta.extra;
  const live = readSchedState(memory?.netns ?? null, ref.dir);
  return Promise.resolve({ meta, state: { ...live, agent: observeAgent(memory?.agent) } });
}

/** The original of every endpoint flag the stack has changed or is about to change. */
function originalBackup(previous: SchedMemory | null, live: SchedState, d: SchedResolved) {
  const out: Record<string, boolean> = {};
  const liveByKey = new Map(live.endpoints.map((e) => [roleKey(e), e]));
  for (const r of d.roles) {
    const key = roleKey(r);
    const kept = previous?.originalBackup[key];
    const e = liveByKey.get(key);
    if (kept !== undefined) out[key] = kept;
    else if (e && e.flags.includes("backup") !== r.backup) out[key] = e.flags.includes("backup");
  }
  return out;
}

function nextMemory(
  previous: SchedMemory | null,
  live: SchedState,
  d: SchedResolved,
  agent: AgentIdentity | undefined,
): SchedMemory {
  return {
    netns: d.netns,
    netnsIno: d.netnsIno,
    originalScheduler: previous ? previous.originalScheduler : live.scheduler,
    ...(d.bpf ? { bpf: d.bpf } : {}),
    mode: d.mode.mode,
    originalBackup: originalBackup(previous, live, d),
    ...(agent ? { agent } : {}),
  };
}

function writeSchedMeta(
  ctx: DriverContext,
  ref: ResourceRef,
  d: SchedResolved,
  memory: SchedMemory,
  tx: Transaction,
) {
  const hashes = { specHash: d.specHash, objectHash: d.bpf?.objectHash ?? "" };
  writeMetaStep(tx, ref.dir, metaRecord(ctx, ref, hashes, memory));
}

/** What `op` leaves running; the old agent is stopped before a new one starts. */
async function runAgentOp(
  ref: ResourceRef,
  op: PmAgentOp | undefined,
  d: SchedResolved,
  current: AgentIdentity | undefined,
  tx: Transaction,
): Promise<AgentIdentity | undefined> {
  if (!op) return current;
  if (op !== "start") await stopPmAgent(current, tx, op !== "stop");
  if (op === "stop" || !d.agent) return undefined;
  return await startPmAgent(ref, d.agent, tx);
}

/** Records what it found first, so a process killed halfway leaves a destroy that restores it. */
async function create({ ctx, ref, desired, tx }: CreateRequest<SchedResolved>) {
  Deno.mkdirSync(ref.dir, { recursive: true, mode: 0o700 });
  tx.onRollback(`remove ${ref.dir}`, () => Deno.removeSync(ref.dir, { recursive: true }));
  const live = desired.baseline;
  writeSchedMeta(ctx, ref, desired, nextMemory(null, live, desired, undefined), tx);
  const { kernel, agent } = schedActions(null, desired);
  await runSchedOps(desired.netns, ref.dir, orderedSchedOps(kernel), tx);
  const identity = await runAgentOp(ref, agent?.op, desired, undefined, tx);
  if (identity) writeSchedMeta(ctx, ref, desired, nextMemory(null, live, desired, identity), tx);
}

/** Runs the plan's operations: what `schedActions` found against the observed state. */
async function update(
  { ctx, ref, observed, desired, tx }: UpdateRequest<
    SchedResolved,
    SchedState | null,
    SchedMemory | null
  >,
) {
  const memory = observed.meta?.extra ?? null;
  const live = observed.state ?? readSchedState(desired.netns, ref.dir);
  const { kernel, agent } = schedActions(observed, desired);
  writeSchedMeta(ctx, ref, desired, nextMemory(memory, live, desired, memory?.agent), tx);
  await runSchedOps(desired.netns, ref.dir, orderedSchedOps(kernel), tx);
  const identity = await runAgentOp(ref, agent?.op, desired, memory?.agent, tx);
  if (identity !== memory?.agent) {
    writeSchedMeta(ctx, ref, desired, nextMemory(memory, live, desired, identity), tx);
  }
}

/**
 * Stops the agent, gives the netns its scheduler and flags back, unregisters
 * every link (links are global: even when the netns is gone), then removes
 * the directory.
 */
async function remove({ ref, observed, tx }: DeleteRequest<SchedState | null, SchedMemory | null>) {
  const meta = readMeta(ref.dir); // as written: a rollback puts back exactly that
  const memory = observed.meta?.extra ?? null;
  await stopPmAgent(memory?.agent, tx);
  const netns = memory?.netns ?? null;
  const same = memory !== null && schedNetnsIno(netns) === memory.netnsIno;
  const live = readSchedState(same ? netns : "/nonexistent/sockform-netns", ref.dir);
  const actions = restoreActions(
    live,
    same ? memory : null,
    same ? availableSchedulers(netns) : [],
  );
  await runSchedOps(netns, ref.dir, orderedSchedOps(actions), tx);
  if (!pathExists(ref.dir)) return;
  Deno.removeSync(ref.dir, { recursive: true });
  if (meta) {
    tx.onRollback(`re-create ${ref.dir}`, () => {
      Deno.mkdirSync(ref.dir, { recursive: true, mode: 0o700 });
      writeMeta(ref.dir, meta);
    });
  }
}

function describe(_ctx: DriverContext, _ref: ResourceRef, observed: Obs) {
  const state = observed.state;
  const memory = observed.meta?.extra ?? null;
  if (!state) return Promise.resolve(null);
  return Promise.resolve({
    netns: state.netns ?? "(caller's netns)",
    scheduler: state.scheduler,
    links: state.links,
    mode: memory?.mode ?? null,
    originalScheduler: memory?.originalScheduler ?? null,
    originalBackup: memory?.originalBackup ?? {},
    agent: state.agent ?? null,
  });
}

/**
 * The Scheduler kernel driver.
 *
 * @example Resolving a resource by hand
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { DriverContext } from "../../engine/types.ts";
 * import { Scheduler } from "../../resources/scheduler.ts";
 *
 * async function resolveByHand(ctx: DriverContext, netns: string) {
 *   return await schedulerDriver.resolve(ctx, new Scheduler("s", { netns }));
 * }
 * ```
 */
export const schedulerDriver: KindDriver<
  Scheduler,
  SchedResolved,
  SchedState | null,
  SchedMemory | null
> = {
  kind: "Scheduler",
  resolve: resolveScheduler,
  observe,
  create,
  update,
  delete: remove,
  describe,
};
