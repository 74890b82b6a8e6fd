/**
 * One plan step per resource: a declared one (resolve, observe, diff, audit)
 * or a stored one the stack no longer declares (a delete).
 *
 * @module
 */
import type { Action, Change, DriverContext, Observed, Resource, ResourceRef } from "./types.ts";
import type { StateStore, StoredResource } from "./store.ts";
import type { Step } from "./plan.ts";
import { hashJson } from "./hash.ts";

/**
 * The step of a declared resource: what the driver resolves it to, what the
 * kernel holds, and the resource's diff plus the shared pin audit.
 *
 * @example Inside plan()
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Resource, StateStore, StoredResource } from "../mod.ts";
 * import type { DriverContext } from "./types.ts";
 *
 * async function declared(
 *   ctx: DriverContext,
 *   store: StateStore,
 *   resource: Resource,
 *   stackDir: string,
 *   found: StoredResource | undefined,
 * ) {
 *   return await planDeclared(ctx, store, resource, `${stackDir}/${resource.name}`, found);
 * }
 * ```
 */
export async function planDeclared(
  ctx: DriverContext,
  store: StateStore,
  resource: Resource,
  dir: string,
  found: StoredResource | undefined,
): Promise<Step> {
  const driver = store.driver(resource.kind);
  const ref: ResourceRef = { kind: resource.kind, name: resource.name, dir };
  ctx.reporter.progress(`reading ${resource.kind}.${resource.name}`);
  const desired = await driver.resolve(ctx, resource);
  const observed = found ? await observeAs(ctx, store, ref, found) : null;
  const specHash = hashJson(resource.spec);
  const foreign = driver.foreign ? await driver.foreign(ctx, ref, desired) : [];
  const base = {
    address: `${resource.kind}.${resource.name}`,
    kind: resource.kind,
    name: resource.name,
    dir,
    specHash,
    observed,
    desired,
    spec: resource.spec,
    foreign,
  };
  const changedKind = kindChange(observed, resource.kind);
  if (changedKind) {
    return { ...base, action: "replace", changes: [changedKind], drift: [], hitless: false };
  }
  // What every kind shares (foreign maps at its pin names, pin modes) is
  // always drift: sockform never makes it so.
  const audited = observed?.meta ? store.audit?.(dir) ?? [] : [];
  const diffed = [...resource.diff(observed, desired), ...audited];
  const unchangedSpec = observed?.meta?.specHash === specHash;
  const drift = unchangedSpec ? diffed : audited;
  const changes = observed && !observed.meta ? [UNFINISHED_REPLACE, ...diffed] : diffed;
  return {
    ...base,
    action: actionFor(observed, changes),
    changes,
    drift,
    hitless: changes.every((c) => c.hitless),
  };
}

/**
 * A directory without metadata is removed outright before the new resource is
 * created (nothing in it is known well enough to hold open across the create),
 * so whatever its pins still steer stops until the create finishes.
 */
const UNFINISHED_REPLACE: Change = {
  path: "",
  before: "(partial)",
  reason: "unfinished resource (no metadata): its directory is removed before the new one " +
    "is created, so traffic it still steers is interrupted",
  hitless: false,
  forcesReplace: true,
};

async function observeAs(
  ctx: DriverContext,
  store: StateStore,
  ref: ResourceRef,
  found: StoredResource,
): Promise<Observed | null> {
  // A resource that changed kind is read by its old kind's driver, so the
  // replace can delete it with full knowledge of what is there.
  const kind = found.meta?.kind ?? ref.kind;
  const observed = await store.driver(kind).observe(ctx, { ...ref, kind });
  // A directory with pins but no metadata is an interrupted create: replace it.
  return observed ?? { meta: null, state: null };
}

function actionFor(observed: Observed | null, changes: Change[]): Action {
  if (!observed) return "create";
  if (!observed.meta || changes.some((c) => c.forcesReplace)) return "replace";
  return changes.length ? "update" : "no-op";
}

/**
 * The delete step of a stored resource the stack no longer declares (or an
 * unfinished one without metadata).
 *
 * @example Inside plan()
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { StateStore, StoredResource } from "../mod.ts";
 * import type { DriverContext } from "./types.ts";
 *
 * async function orphan(ctx: DriverContext, store: StateStore, found: StoredResource) {
 *   const step = await planOrphan(ctx, store, found); // a delete
 *   return step;
 * }
 * ```
 */
export async function planOrphan(
  ctx: DriverContext,
  store: StateStore,
  found: StoredResource,
): Promise<Step> {
  const kind = found.meta?.kind ?? "unknown";
  const ref: ResourceRef = { kind, name: found.name, dir: found.dir };
  const observed = found.meta ? await store.driver(kind).observe(ctx, ref) : null;
  const reason = found.meta
    ? "no longer declared in the stack"
    : "unfinished resource (no metadata): left by an interrupted apply";
  return {
    address: `${kind}.${found.name}`,
    kind,
    name: found.name,
    dir: found.dir,
    action: "delete",
    changes: [{ path: "", before: found.meta?.specHash ?? "(partial)", reason, hitless: false }],
    drift: [],
    hitless: false,
    specHash: "",
    // No driver read it (unknown kind): its `extra` stays as written.
    observed: observed ??
      { meta: found.meta && { ...found.meta, extra: found.meta.extra }, state: null },
  };
}

/** The change that replaces a resource whose stored kind is not its declared one. */
function kindChange(observed: Observed | null, kind: string): Change | null {
  if (!observed?.meta || observed.meta.kind === kind) return null;
  return {
    path: "kind",
    before: observed.meta.kind,
    after: kind,
    reason: "the resource changed kind",
    hitless: false,
    forcesReplace: true,
  };
}
