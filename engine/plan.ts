/**
 * plan(): read the live state, diff it against the stack, and order the steps.
 *
 * @module
 */
import { type Failure, orFailure, throwFailures } from "./diagnostics.ts";
import type {
  Action,
  Change,
  DriverContext,
  ForeignProgram,
  Observed,
  Reporter,
  Resource,
} from "./types.ts";
import type { StateStore, StoredResource } from "./store.ts";
import { checkStackNames, type Stack } from "./stack.ts";
import { hashJson } from "./hash.ts";
import { planDeclared, planOrphan } from "./plan_step.ts";
import { TOOL_VERSION } from "./version.ts";
import {
  corruptDelete,
  corruptReason,
  type CorruptResource,
  planCorruptDeclared,
  refuseCorruptDeclared,
  reportCorrupt,
} from "./corrupt.ts";

/** One thing apply will do to one resource. */
export interface Step {
  /** `Kind.name`, as Terraform addresses resources. */
  address: string;
  /** The resource kind, e.g. `SocketLookupRedirect`. */
  kind: string;
  /** The resource's name in the stack. */
  name: string;
  /** The resource's state directory under the state root. */
  dir: string;
  /** What apply does: create, update, replace, delete or no-op. */
  action: Action;
  /** What the stack asks for that the kernel does not have. */
  changes: Change[];
  /** Where the kernel disagrees with what sockform last applied. */
  drift: Change[];
  /** True when every change is hitless. */
  hitless: boolean;
  /** Hash of the normalised spec (empty for deletes). */
  specHash: string;
  /** What the kernel holds for the resource; null when nothing exists yet. */
  observed: Observed | null;
  /** The resolved desired state handed to the driver (not serialised). */
  desired?: unknown;
  /** The normalised spec, for renderers (undefined for deletes). */
  spec?: unknown;
  /** Programs sockform does not own on the hooks this resource uses: warnings, not changes. */
  foreign?: ForeignProgram[];
}

/** The result of plan(): ordered steps plus the staleness token. */
export interface Plan {
  /** The stack's name. */
  stack: string;
  /** The stack's state directory. */
  stackDir: string;
  /** The steps in apply order: creates and updates in dependency order, then deletes. */
  steps: Step[];
  /** sha256 over everything observed; apply refuses when the kernel no longer matches. */
  token: string;
  /** The sockform version that made the plan. */
  toolVersion: string;
  /** Directories left alone: metadata of a kind without a driver (see `removeCorrupt`). */
  corrupt?: CorruptResource[];
  /** True for a destroy plan (every step a delete because the stack is being destroyed). */
  destroy?: boolean;
}

/** Options for plan(). */
export interface PlanOptions {
  /** Plan the removal of everything the stack owns. */
  destroy?: boolean;
  /** Where progress and warnings go (default: nowhere). */
  reporter?: Reporter;
  /** Remove (or replace) corrupt or foreign resource directories instead of leaving them. */
  removeCorrupt?: boolean;
}

const quiet: Reporter = { progress() {}, warn() {} };

/** Builds the driver context for a stack. */
export function driverContext(stack: Stack, stackDir: string, reporter?: Reporter): DriverContext {
  return {
    stackName: stack.name,
    stackDir,
    toolVersion: TOOL_VERSION,
    reporter: reporter ?? quiet,
    resources: stack.resources,
  };
}

/**
 * Computes the steps that turn the live state into the stack.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { kernelStore, type Stack } from "../mod.ts";
 *
 * async function review(stack: Stack): Promise<void> {
 *   const p = await plan(stack, kernelStore());
 *   console.log(p.steps.map((s) => `${s.action} ${s.address}`));
 * }
 * ```
 */
export async function plan(stack: Stack, store: StateStore, opts: PlanOptions = {}): Promise<Plan> {
  const { name, ordered } = checkedOrder(stack);
  const stackDir = store.openStack(name, false);
  const ctx = driverContext(stack, stackDir, opts.reporter);
  const stored = new Map(store.list(stackDir).map((s) => [s.name, s]));
  const observedAll: Record<string, unknown> = {};
  const steps: Step[] = [];
  const corrupt: CorruptResource[] = [];
  const declared = opts.destroy ? [] : ordered;
  steps.push(
    ...await planEachDeclared(ctx, store, declared, { stackDir, stored, observedAll, opts }),
  );
  const deletes = await planStored(ctx, store, [...stored.values()], {
    declared: new Set(declared.map((r) => r.name)),
    observedAll,
    corrupt,
    removeCorrupt: Boolean(opts.removeCorrupt),
  });
  // Deletes run after creates and updates (create-before-destroy), dependents first:
  // resources the stack still declares (destroy) in reverse dependency order, after
  // orphans, whose dependencies nobody knows any more.
  const rank = new Map(ordered.map((r, i) => [r.name, i]));
  const later = (s: Step) => rank.get(s.name) ?? ordered.length;
  steps.push(...deletes.reverse().sort((a, b) => later(b) - later(a)));
  let token: string | undefined;
  return {
    stack: name,
    stackDir,
    steps,
    // Hashing everything observed costs ~10 ms per 10,000 map entries, and only
    // saved plans and apply's re-plan compare tokens: computed on first read.
    get token() {
      return token ??= hashJson(observedAll);
    },
    toolVersion: TOOL_VERSION,
    corrupt,
    destroy: Boolean(opts.destroy),
  };
}

/**
 * Steps for the declared resources; every resource's resolve-time problem (a
 * missing netns, cgroup, kernel feature) is thrown at once after all are read.
 */
async function planEachDeclared(
  ctx: DriverContext,
  store: StateStore,
  declared: Resource[],
  on: {
    stackDir: string;
    stored: Map<string, StoredResource>;
    observedAll: Record<string, unknown>;
    opts: PlanOptions;
  },
): Promise<Step[]> {
  const steps: Step[] = [];
  const failed: Failure[] = [];
  for (const resource of declared) {
    const found = on.stored.get(resource.name);
    const dir = `${on.stackDir}/${resource.name}`;
    const bad = found ? corruptReason(store, found) : null;
    if (bad) refuseCorruptDeclared(resource.name, bad, Boolean(on.opts.removeCorrupt));
    const step = bad
      ? await planCorruptDeclared(ctx, store, resource, dir, bad)
      : await orFailure(failed, `${resource.kind}.${resource.name}`, () =>
        planDeclared(ctx, store, resource, dir, found));
    if (!step) continue;
    // Only what exists goes into the token: declaring a new resource changes the
    // steps, not the kernel, and staleness must blame the right one.
    if (step.observed) on.observedAll[resource.name] = bad ? { corrupt: bad } : step.observed;
    steps.push(step);
  }
  throwFailures(failed);
  return steps;
}

/** Deletes for what the stack dir holds but the stack does not declare; corrupt ones reported. */
async function planStored(
  ctx: DriverContext,
  store: StateStore,
  stored: StoredResource[],
  o: {
    declared: Set<string>;
    observedAll: Record<string, unknown>;
    corrupt: CorruptResource[];
    removeCorrupt: boolean;
  },
): Promise<Step[]> {
  const deletes: Step[] = [];
  for (const found of stored) {
    if (o.declared.has(found.name)) continue;
    const bad = corruptReason(store, found);
    if (bad) o.observedAll[found.name] = { corrupt: bad };
    if (bad && !o.removeCorrupt) o.corrupt.push(reportCorrupt(found, bad, ctx.reporter));
    else if (bad) deletes.push(corruptDelete(found, bad));
    else {
      const step = await planOrphan(ctx, store, found);
      o.observedAll[found.name] = step.observed;
      deletes.push(step);
    }
  }
  return deletes;
}

/**
 * The stack's name and resources in dependency order, both checked before any
 * name becomes a path. Checked on what `ordered()` returned and on a name read
 * once: a duck-typed stack's ordered() need not match its resources.
 */
function checkedOrder(stack: Stack): { name: string; ordered: Resource[] } {
  const name = stack.name;
  checkStackNames({ name, resources: stack.resources });
  const ordered = stack.ordered();
  checkStackNames({ name, resources: ordered });
  return { name, ordered };
}

/** True when applying the plan would change anything. */
export function hasChanges(p: Plan): boolean {
  return p.steps.some((s) => s.action !== "no-op");
}
