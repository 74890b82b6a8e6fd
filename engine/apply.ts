/**
 * apply(): execute a plan's steps under the stack lock, all or nothing.
 *
 * Every driver registers an undo for each kernel change; if a step fails, the
 * undos of all completed work run in reverse and the error names the step.
 * Irreversible work (closing the last fd of a replaced link) waits for commit.
 *
 * @module
 */
import type { DriverContext, Reporter, ResourceRef, Transaction } from "./types.ts";
import type { StateStore } from "./store.ts";
import type { Plan, Step } from "./plan.ts";
import { StepError } from "./errors.ts";
import {
  faultAfter,
  faultAtChange,
  InjectedFault,
  resetChangeCount,
  suspendChangeFaults,
} from "./fault.ts";

interface Entry {
  description: string;
  run: () => unknown;
}

/** Collects undo and commit actions across all steps of one apply. */
export class Journal implements Transaction {
  readonly undos: Entry[] = [];
  readonly commits: Entry[] = [];
  constructor() {
    resetChangeCount();
  }
  onRollback(description: string, run: () => unknown): void {
    this.undos.push({ description, run });
    // Each registered undo marks one kernel change: SOCKFORM_FAULT=*-at-change:N hooks here.
    faultAtChange(description, true);
  }
  onCommit(description: string, run: () => unknown): void {
    this.commits.push({ description, run });
  }

  /** Runs the undos newest first; returns what ran and what failed. */
  async rollback(): Promise<{ done: string[]; failed: string[] }> {
    const done: string[] = [];
    const failed: string[] = [];
    suspendChangeFaults(true);
    for (const entry of this.undos.reverse()) {
      try {
        await entry.run();
        done.push(entry.description);
      } catch (e) {
        failed.push(`${entry.description} (${e instanceof Error ? e.message : e})`);
      }
    }
    return { done, failed };
  }

  /** Runs the deferred commits in order; failures are reported, not fatal. */
  async commit(reporter: Reporter): Promise<void> {
    suspendChangeFaults(true);
    for (const entry of this.commits) {
      try {
        await entry.run();
      } catch (e) {
        reporter.warn(
          `after apply: ${entry.description} failed: ${e instanceof Error ? e.message : e}`,
        );
      }
    }
  }
}

/** A human label for a step, used in progress lines and errors. */
export function stepLabel(step: Step): string {
  return `${step.action} ${step.address}`;
}

async function runStep(
  ctx: DriverContext,
  store: StateStore,
  step: Step,
  tx: Journal,
): Promise<void> {
  const ref: ResourceRef = { kind: step.kind, name: step.name, dir: step.dir };
  const observed = step.observed;
  const removeOld = async () => {
    if (observed?.meta && observed.meta.kind === step.kind) {
      await store.driver(step.kind).delete({ ctx, ref, observed, tx });
    } else if (observed?.meta) {
      const old = { ...ref, kind: observed.meta.kind };
      await store.driver(observed.meta.kind).delete({ ctx, ref: old, observed, tx });
    } else await store.removeUnknown(step.dir);
  };
  switch (step.action) {
    case "no-op":
      return;
    case "create":
      return store.driver(step.kind).create({ ctx, ref, desired: step.desired, tx });
    case "update":
      await store.driver(step.kind).update({
        ctx,
        ref,
        observed: observed!,
        desired: step.desired,
        changes: step.changes,
        tx,
      });
      return store.repair?.(step.dir, tx); // owner and mode drift, the same for every kind
    case "delete":
      return removeOld();
    case "replace":
      await removeOld();
      return store.driver(step.kind).create({ ctx, ref, desired: step.desired, tx });
  }
}

/**
 * Executes the plan's steps in order. On failure, rolls back and throws
 * `StepError`. The caller holds the stack lock (see `withLock`).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { plan, type Stack, type StateStore } from "../mod.ts";
 * import type { DriverContext } from "./types.ts";
 *
 * async function deploy(stack: Stack, store: StateStore, ctx: DriverContext): Promise<number> {
 *   const p = await plan(stack, store);
 *   return await apply(p, store, ctx); // the number of steps that ran
 * }
 * ```
 */
export async function apply(plan: Plan, store: StateStore, ctx: DriverContext): Promise<number> {
  const active = plan.steps.filter((s) => s.action !== "no-op");
  const tx = new Journal();
  let done = 0;
  for (const step of active) {
    ctx.reporter.progress(`[${done + 1}/${active.length}] ${stepLabel(step)}`);
    try {
      await runStep(ctx, store, step, tx);
    } catch (e) {
      const { done: undone, failed } = await tx.rollback();
      throw new StepError(stepLabel(step), e, undone, failed);
    }
    done++;
    await faultAfter(done, async () => {
      const { done: undone, failed } = await tx.rollback();
      throw new StepError(stepLabel(step), new InjectedFault(""), undone, failed);
    });
  }
  await tx.commit(ctx.reporter);
  return done;
}
