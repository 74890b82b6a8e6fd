/**
 * The operations behind the CLI, usable from any Deno script: plan, apply,
 * destroy and show, each under the right lock.
 *
 * @module
 */
import type { ForeignProgram, Reporter, ResourceMeta } from "./types.ts";
import { PlanError } from "./errors.ts";
import type { StateStore } from "./store.ts";
import type { Stack } from "./stack.ts";
import { driverContext, hasChanges, type Plan, plan } from "./plan.ts";
import { apply } from "./apply.ts";
import { assertFresh, type SavedPlan } from "./saved_plan.ts";
import { corruptReason, type CorruptResource } from "./corrupt.ts";
import { targetPlan } from "./target.ts";

/** Options shared by the session operations. */
export interface SessionOptions {
  /** Where progress and warnings go (default: nowhere). */
  reporter?: Reporter;
  /** Called with the plan before anything changes; return false to abort. */
  confirm?: (plan: Plan) => Promise<boolean> | boolean;
  /** A saved plan the fresh plan must match. */
  saved?: SavedPlan;
  /** Remove corrupt or foreign resource directories (by default they are reported and left). */
  removeCorrupt?: boolean;
  /** Terraform's `-target`: only these addresses and what they depend on (see targetPlan). */
  targets?: readonly string[];
  /** How long to wait for the stack lock, in ms (default: for ever; see StateStore.lock). */
  lockTimeoutMs?: number;
}

/** What apply and destroy did. */
export interface ApplyOutcome {
  /** The plan that was carried out (or refused). */
  plan: Plan;
  /** How many steps ran. */
  applied: number;
  /** True when `confirm` said no and nothing changed. */
  aborted: boolean;
}

async function planAndApply(
  stack: Stack,
  store: StateStore,
  destroy: boolean,
  opts: SessionOptions,
): Promise<ApplyOutcome> {
  const stackDir = store.openStack(stack.name);
  const unlock = await store.lock(stackDir, opts.lockTimeoutMs);
  try {
    // Plan under the lock so a concurrent apply cannot change what we act on.
    const p = targetPlan(
      await plan(stack, store, {
        destroy,
        reporter: opts.reporter,
        removeCorrupt: opts.removeCorrupt,
      }),
      stack,
      opts.targets,
      destroy ? "dependents" : "dependencies",
    );
    if (opts.saved) assertFresh(opts.saved, p);
    if (!hasChanges(p)) return { plan: p, applied: 0, aborted: false };
    if (opts.confirm && !(await opts.confirm(p))) return { plan: p, applied: 0, aborted: true };
    const ctx = driverContext(stack, stackDir, opts.reporter);
    const applied = await apply(p, store, ctx);
    return { plan: p, applied, aborted: false };
  } finally {
    // Under the lock: a waiter then finds the directory gone and re-creates it
    // (see StateStore.lock), and a failed or empty apply leaves nothing behind.
    try {
      store.removeStackIfEmpty(stackDir);
    } finally {
      unlock();
    }
  }
}

/**
 * Makes the kernel match the stack, all or nothing.
 *
 * @example From a Deno script
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { applyStack, kernelStore, type Stack } from "../mod.ts";
 *
 * async function deploy(stack: Stack): Promise<void> {
 *   await applyStack(stack, kernelStore());
 * }
 * ```
 */
export function applyStack(
  stack: Stack,
  store: StateStore,
  opts: SessionOptions = {},
): Promise<ApplyOutcome> {
  return planAndApply(stack, store, false, opts);
}

/**
 * Removes everything the stack owns.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { kernelStore, type Stack } from "../mod.ts";
 *
 * async function teardown(stack: Stack): Promise<void> {
 *   await destroyStack(stack, kernelStore());
 * }
 * ```
 */
export async function destroyStack(
  stack: Stack,
  store: StateStore,
  opts: SessionOptions = {},
): Promise<ApplyOutcome> {
  return await planAndApply(stack, store, true, opts);
}

/**
 * What is deployed, as the kernel sees it, plus kind-specific details (counters).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { kernelStore, type Stack } from "../mod.ts";
 *
 * async function show(stack: Stack): Promise<void> {
 *   for (const r of await showStack(stack, kernelStore())) console.log(r.address, r.details);
 * }
 * ```
 */
export async function showStack(
  stack: Stack,
  store: StateStore,
  reporter?: Reporter,
): Promise<ShownResource[]> {
  let p: Plan;
  try {
    p = await plan(stack, store, { reporter });
  } catch (e) {
    // A stack the kernel cannot satisfy right now (a destination's listener has
    // gone) is when counters matter most: show what is deployed, undiffed.
    if (!(e instanceof PlanError)) throw e;
    return await showDeployed(stack, store, e.message, reporter);
  }
  const ctx = driverContext(stack, p.stackDir, reporter);
  const out: ShownResource[] = [];
  for (const step of p.steps) {
    const driver = step.observed?.meta ? store.driver(step.kind) : undefined;
    const ref = { kind: step.kind, name: step.name, dir: step.dir };
    const details = driver?.describe && step.observed
      ? await driver.describe(ctx, ref, step.observed)
      : undefined;
    out.push({
      address: step.address,
      deployed: Boolean(step.observed?.meta),
      inSync: step.action === "no-op",
      meta: step.observed?.meta ?? null,
      state: step.observed?.state ?? null,
      details,
      foreign: step.foreign ?? [],
    });
  }
  return [...out, ...(p.corrupt ?? []).map(shownCorrupt)];
}

function shownCorrupt(c: CorruptResource): ShownResource {
  return {
    address: c.address,
    deployed: true,
    inSync: false,
    meta: null,
    state: null,
    details: undefined,
    corrupt: c.reason,
  };
}

/** One resource as `show` reports it. */
export interface ShownResource {
  /** `Kind.name`. */
  address: string;
  /** True when the resource has a state directory. */
  deployed: boolean;
  /** True when the kernel matches the stack (no changes, no drift). */
  inSync: boolean;
  /** Its pinned metadata; null when missing or unreadable. */
  meta: ResourceMeta | null;
  /** What the kind's driver read from the kernel (plain JSON). */
  state: unknown;
  /** Kind-specific extras for display, e.g. counters. */
  details: unknown;
  /** Programs sockform does not own on this resource's hooks (empty when none or unknown). */
  foreign?: ForeignProgram[];
  /** Why the stack could not be planned (then `inSync` is false and nothing was diffed). */
  problem?: string;
  /** Set for a corrupt or foreign resource directory: why, naming its path. */
  corrupt?: string;
}

/** The resources found under the stack's directory, observed but not planned. */
async function showDeployed(
  stack: Stack,
  store: StateStore,
  problem: string,
  reporter?: Reporter,
): Promise<ShownResource[]> {
  const stackDir = store.openStack(stack.name, false);
  const ctx = driverContext(stack, stackDir, reporter);
  const out: ShownResource[] = [];
  for (const found of store.list(stackDir)) {
    const kind = found.meta?.kind ?? "unknown";
    const ref = { kind, name: found.name, dir: found.dir };
    const bad = corruptReason(store, found);
    if (bad) {
      out.push(
        shownCorrupt({
          address: `${kind}.${found.name}`,
          name: found.name,
          dir: found.dir,
          reason: bad,
        }),
      );
      continue;
    }
    const driver = found.meta ? store.driver(kind) : undefined;
    const observed = driver ? await driver.observe(ctx, ref) : null;
    const details = driver?.describe && observed
      ? await driver.describe(ctx, ref, observed)
      : undefined;
    out.push({
      address: `${kind}.${found.name}`,
      deployed: Boolean(found.meta),
      inSync: false,
      meta: found.meta,
      state: observed?.state ?? null,
      details,
      problem,
    });
  }
  return out;
}
