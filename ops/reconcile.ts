/**
 * One reconcile loop: fetch the source, load the stack, plan under the state
 * lock, and apply when something changed or drifted (mode `apply`) or only
 * report it (mode `report`). A revision that fails to load or plan is not
 * applied: the kernel keeps the last good state and the status names the
 * error. The lock is only ever waited on for `lockTimeoutMs`: a manual apply
 * holding it makes this loop report "locked" and the next one try again.
 *
 * @module
 */
import type { Plan } from "../engine/plan.ts";
import type { StateStore } from "../engine/store.ts";
import type { Stack } from "../engine/stack.ts";
import { type ApplyOutcome, applyStack } from "../engine/session.ts";
import { describeThrown, loadStack } from "../cli/load_stack.ts";
import { fetchRevision, pruneCheckouts, type Revision, type SourceSpec } from "./source.ts";
import type { LoopError, ReconcileStatus, ResourceStatus } from "./reconcile_status.ts";
import {
  changedImports,
  ImportsChanged,
  type ImportsWatch,
  watchImports,
} from "./imports_watch.ts";

/** How the agent reconciles. */
export interface ReconcileOptions {
  source: SourceSpec;
  store: StateStore;
  mode: "apply" | "report";
  /** Hold back steps that are not hitless ("awaiting approval"). */
  requireHitless: boolean;
  /** How long a loop waits for the state lock before it reports "locked". */
  lockTimeoutMs: number;
}

// engine's kernel_store words a lock timeout this way (a UserError, no class of its own).
const LOCKED = /^Error acquiring the state lock/;

function notHitless(p: Plan): string[] {
  return p.steps.filter((s) => s.action !== "no-op" && !s.hitless).map((s) => s.address);
}

function recordPlan(status: ReconcileStatus, p: Plan): void {
  const steps = p.steps.filter((s) => s.action !== "no-op").map((s) => ({
    address: s.address,
    action: s.action,
    hitless: s.hitless,
    drift: s.drift.length > 0,
  }));
  const drift = steps.filter((s) => s.drift).length;
  status.lastPlan = { changes: steps.length, drift, steps };
  status.totals.driftFound += drift;
  status.stack = p.stack;
  const resources: Record<string, ResourceStatus> = {};
  for (const s of p.steps) {
    if (s.action === "delete") continue;
    resources[s.address] = s.action === "no-op" ? "in_sync" : "drifted";
  }
  status.resources = resources;
}

function fail(
  status: ReconcileStatus,
  stage: LoopError["stage"],
  commit: string | null,
  e: unknown,
) {
  status.lastResult = "error";
  status.totals.errors++;
  const message = e instanceof Error && e.message ? e.message : describeThrown(e);
  status.lastError = { at: new Date().toISOString(), stage, commit, message };
}

interface Timed {
  outcome: ApplyOutcome;
  planSeconds: number;
  applySeconds: number | null;
}

/** How far a loop got, so an error names its stage. */
interface Progress {
  stage: LoopError["stage"];
}

/**
 * Each revision's stack, loaded once. A module is imported once per URL, and
 * its spec checks run while it evaluates: importing the same revision again
 * would return the cached module and skip them, so a revision's outcome (its
 * Stack or its load error) is kept and reused by later loops.
 */
const loaded = new Map<string, Promise<Stack>>();

/**
 * For a file source: the modules its stack imports, stamped just before the first load that
 * succeeded; that load fixes which module versions this process runs (see imports_watch.ts).
 */
const importWatches = new Map<string, ImportsWatch>();

function loadRevision(rev: Revision, source: SourceSpec): Promise<Stack> {
  const key = `${rev.file}\0${rev.commit}`;
  let stack = loaded.get(key);
  if (!stack) {
    const watching = source.type === "file" && !importWatches.has(rev.file);
    const watch = watching ? watchImports(rev.file) : null;
    stack = (async () => {
      const stamped = await watch;
      const s = await loadStack(rev.file, rev.commit);
      if (stamped && !importWatches.has(rev.file)) importWatches.set(rev.file, stamped);
      return s;
    })();
    loaded.set(key, stack);
  }
  return stack;
}

async function planAndMaybeApply(
  opts: ReconcileOptions,
  rev: Revision,
  status: ReconcileStatus,
  progress: Progress,
): Promise<Timed> {
  progress.stage = "validate";
  const stack = await loadRevision(rev, opts.source);
  progress.stage = "plan";
  const started = performance.now();
  let decided: number | null = null;
  const outcome = await applyStack(stack, opts.store, {
    lockTimeoutMs: opts.lockTimeoutMs,
    confirm: (p) => {
      decided = performance.now();
      recordPlan(status, p);
      status.awaitingApproval = opts.requireHitless ? notHitless(p) : [];
      const go = opts.mode === "apply" && status.awaitingApproval.length === 0;
      if (go) progress.stage = "apply";
      return go;
    },
  });
  const end = performance.now();
  const planEnd: number = decided ?? end;
  return {
    outcome,
    planSeconds: (planEnd - started) / 1000,
    applySeconds: decided !== null && outcome.applied ? (end - planEnd) / 1000 : null,
  };
}

function settle(status: ReconcileStatus, t: Timed, commit: string): void {
  status.durations.planSeconds = t.planSeconds;
  if (t.applySeconds !== null) status.durations.applySeconds = t.applySeconds;
  if (t.outcome.aborted) {
    status.lastResult = status.awaitingApproval.length ? "awaiting-approval" : "changes-pending";
    return;
  }
  status.awaitingApproval = [];
  if (t.outcome.applied) {
    status.lastResult = "applied";
    status.totals.applies++;
    status.totals.driftRepaired += status.lastPlan?.drift ?? 0;
    for (const a of Object.keys(status.resources)) status.resources[a] = "in_sync";
  } else {
    recordPlan(status, t.outcome.plan);
    status.lastResult = "in-sync";
  }
  status.lastError = null;
  status.lastGoodCommit = commit;
  status.lastSuccessAt = new Date().toISOString();
}

function failLoop(status: ReconcileStatus, progress: Progress, commit: string, e: unknown): void {
  if (LOCKED.test(describeThrown(e))) {
    status.lastResult = "locked";
    status.totals.locked++;
    return;
  }
  fail(status, progress.stage, commit, e);
  // Apply rolled back what it had done: the steps it was carrying out are in error.
  if (progress.stage !== "apply") return;
  for (const s of status.lastPlan?.steps ?? []) {
    if (s.address in status.resources) status.resources[s.address] = "error";
  }
}

/**
 * Runs one loop and updates `status` in place.
 *
 * @example One loop by hand
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { kernelStore } from "../providers/state/kernel_store.ts";
 * import { newStatus } from "./reconcile_status.ts";
 * import type { SourceSpec } from "./source.ts";
 *
 * async function once(source: SourceSpec): Promise<void> {
 *   const status = newStatus("file:stack.ts", "apply", false);
 *   const store = kernelStore();
 *   await reconcileOnce({ source, store, mode: "apply", requireHitless: false, lockTimeoutMs: 5000 }, status);
 * }
 * ```
 */
export async function reconcileOnce(opts: ReconcileOptions, status: ReconcileStatus) {
  status.loops++;
  status.lastLoopAt = new Date().toISOString();
  let rev: Revision;
  try {
    rev = await fetchRevision(opts.source);
  } catch (e) {
    return fail(status, "fetch", null, e);
  }
  status.commit = rev.commit;
  status.lastPlan = null;
  const watch = importWatches.get(rev.file);
  const changed = watch ? changedImports(watch) : [];
  if (changed.length) {
    status.restartNeeded = changed;
    return fail(status, "fetch", rev.commit, new ImportsChanged(changed));
  }
  const progress: Progress = { stage: "validate" };
  try {
    settle(status, await planAndMaybeApply(opts, rev, status, progress), rev.commit);
  } catch (e) {
    return failLoop(status, progress, rev.commit, e);
  }
  const keep = [rev.commit, status.lastGoodCommit].filter((c): c is string => c !== null);
  await pruneCheckouts(opts.source, keep).catch(() => {});
}
