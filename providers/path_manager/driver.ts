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
import { pmActions, type PmResolved } from "../../resources/path_manager/diff.ts";
import type { PmAgentOp } from "../../resources/path_manager/agent_diff.ts";
import { orderedOps, reconcile, restoreTarget } from "../../resources/path_manager/reconcile.ts";
import {
  endpointKey,
  type LimitKey,
  type PmAgentState,
  type PmMemory,
  type PmState,
  upgradePmExtra,
} from "../../resources/path_manager/types.ts";
import { readKindMeta, readMeta, writeMeta, writeMetaStep } from "../state/meta.ts";
import { metaRecord } from "../../engine/meta.ts";
import { netnsInoOrNull, originalOf, readPmState, runPmOps } from "./kernel.ts";
import { resolvePathManager } from "./resolve.ts";
import { observeAgent, reloadPmAgent, startPmAgent, stopPmAgent } from "./agent.ts";
import type { AgentIdentity } from "../mptcp_agent/identity.ts";
import { readAgentStatus } from "../mptcp_agent/status.ts";
import { totalEvents } from "../mptcp_agent/counters.ts";
import { pathExists } from "../state/pin_dir.ts";

async function observe(
  _ctx: DriverContext,
  ref: ResourceRef,
): Promise<Observed<PmState | null, PmMemory | null> | null> {
  if (!pathExists(ref.dir)) return null;
  const meta = readKindMeta(ref.dir, upgradePmExtra);
  if (!meta) return { meta: null, state: null };
  const memory = meta.extra;
  const live = await readPmState(memory?.netns ?? null);
  const state: PmState = { ...live, agent: observeAgent(memory?.agent, memory?.agentPolicy) };
  return { meta, state };
}

/** The memory after applying `desired`: the original is kept, ownership follows the spec. */
function nextMemory(
  previous: PmMemory | null,
  live: PmState,
  desired: PmResolved,
  agent: AgentIdentity | undefined,
): PmMemory {
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
    ...(agent ? { agent, agentPolicy: desired.agent?.policyKey } : {}),
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
 * What `op` leaves running: the agent the plan said to (re)start, none after
 * a stop, else the one there was. The old agent is stopped before a new one
 * subscribes, so two never serve one netns.
 */
async function runAgentOp(
  ctx: DriverContext,
  ref: ResourceRef,
  op: PmAgentOp | undefined,
  desired: PmResolved,
  current: AgentIdentity | undefined,
  tx: Transaction,
): Promise<AgentIdentity | undefined> {
  if (!op) return current;
  if (op === "reload" && current && desired.agent) {
    const reloaded = await reloadPmAgent(ref, desired.agent, current);
    if (reloaded) return reloaded;
    ctx.reporter.warn(
      `${ref.name}: agent pid ${current.pid} did not take the new params; restarting it`,
    );
  }
  if (op !== "start") await stopPmAgent(current, tx, op !== "stop");
  if (op === "stop" || !desired.agent) return undefined;
  return await startPmAgent(ref, desired.agent, tx);
}

/**
 * Records the netns as found, then changes it, then starts the policy agent
 * (in userspace mode by then) and records it. The metadata goes first so a
 * process killed halfway leaves a resource whose destroy still restores it.
 */
async function create({ ctx, ref, desired, tx }: CreateRequest<PmResolved>) {
  const live = await readPmState(desired.netns);
  Deno.mkdirSync(ref.dir, { recursive: true, mode: 0o700 });
  tx.onRollback(`remove ${ref.dir}`, () => Deno.removeSync(ref.dir, { recursive: true }));
  const memory = nextMemory(null, live, desired, undefined);
  writePmMeta(ctx, ref, desired.specHash, memory, tx);
  const { netlink, agent } = pmActions(null, desired);
  runPmOps(desired.netns, orderedOps(netlink), tx);
  const identity = await runAgentOp(ctx, ref, agent?.op, desired, undefined, tx);
  if (identity) {
    writePmMeta(ctx, ref, desired.specHash, nextMemory(null, live, desired, identity), tx);
  }
}

/** Runs the plan's operations: what `pmActions` found against the observed state. */
async function update(
  { ctx, ref, observed, desired, tx }: UpdateRequest<PmResolved, PmState | null, PmMemory | null>,
) {
  const memory = observed.meta?.extra ?? null;
  const live = observed.state ?? await readPmState(desired.netns);
  const { netlink, agent } = pmActions(observed, desired);
  writePmMeta(ctx, ref, desired.specHash, nextMemory(memory, live, desired, memory?.agent), tx);
  runPmOps(desired.netns, orderedOps(netlink), tx);
  const identity = await runAgentOp(ctx, ref, agent?.op, desired, memory?.agent, tx);
  if (identity !== memory?.agent) {
    writePmMeta(ctx, ref, desired.specHash, nextMemory(memory, live, desired, identity), tx);
  }
}

/** Gives the netns back as the stack found it, then removes the directory. */
async function remove(
  { ref, observed, tx }: DeleteRequest<PmState | null, PmMemory | null>,
) {
  const meta = readMeta(ref.dir); // as written: a rollback puts back exactly that
  const memory = observed.meta?.extra ?? null;
  await stopPmAgent(memory?.agent, tx); // first: the mode goes back only once no agent acts on it
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

/** The agent for `show`: who, how it is, and its counters from its status file. */
function describeAgent(recorded: AgentIdentity | undefined, seen: PmAgentState | null | undefined) {
  if (!recorded || !seen) return null;
  const status = readAgentStatus(recorded.statusFile);
  const c = status?.pid === seen.pid ? status.counters : undefined;
  return {
    pid: seen.pid,
    health: seen.health,
    ...(seen.reason ? { reason: seen.reason } : {}),
    statusFile: recorded.statusFile,
    counters: c
      ? {
        events: totalEvents(c),
        overflows: c.overflows,
        resyncs: c.resyncs,
        handlerErrors: c.handlerErrors,
      }
      : null,
    ...(status?.lastHandlerError ? { lastHandlerError: status.lastHandlerError } : {}),
  };
}

function describe(
  _ctx: DriverContext,
  _ref: ResourceRef,
  observed: Observed<PmState | null, PmMemory | null>,
) {
  const state = observed.state;
  const memory = observed.meta?.extra ?? null;
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
    agent: describeAgent(memory?.agent, state.agent),
  });
}

/**
 * The PathManager kernel driver.
 *
 * @example Resolving a resource by hand
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { DriverContext } from "../../engine/types.ts";
 * import { PathManager } from "../../resources/path_manager.ts";
 *
 * async function resolveByHand(ctx: DriverContext, netns: string) {
 *   return await pathManagerDriver.resolve(ctx, new PathManager("pm", { netns }));
 * }
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
