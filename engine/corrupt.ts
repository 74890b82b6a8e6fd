/**
 * Corrupt or foreign resource directories: metadata naming a kind this
 * sockform has no driver for. They are reported by path and left alone, so
 * the rest of the stack can still be planned, applied and destroyed; removing
 * them takes an explicit `removeCorrupt` (`--remove-corrupt` on the CLI).
 *
 * @module
 */
import type { Change, DriverContext, Observed, Reporter, Resource } from "./types.ts";
import type { Step } from "./plan.ts";
import { hashJson } from "./hash.ts";
import type { StateStore, StoredResource } from "./store.ts";
import { PlanError } from "./errors.ts";

/** A resource directory sockform cannot read as any kind it knows. */
export interface CorruptResource {
  /** `Kind.name`, with the kind its metadata claims. */
  address: string;
  /** The directory's name. */
  name: string;
  /** The directory's path. */
  dir: string;
  /** Why it is corrupt, naming the path. */
  reason: string;
}

/** The CLI option that removes corrupt resources. */
export const REMOVE_CORRUPT = "--remove-corrupt";

/**
 * Why `found` is corrupt or foreign, or null when a driver can read it.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { StateStore, StoredResource } from "../mod.ts";
 *
 * function check(store: StateStore, found: StoredResource): void {
 *   console.log(corruptReason(store, found) ?? "readable"); // null or a reason
 * }
 * ```
 */
export function corruptReason(store: StateStore, found: StoredResource): string | null {
  if (!found.meta) return null; // no metadata: an unfinished create, replaced as usual
  try {
    store.driver(found.meta.kind);
    return null;
  } catch {
    return `${found.dir} is a corrupt or foreign resource: its metadata names kind ` +
      `${JSON.stringify(found.meta.kind)}, which sockform has no driver for`;
  }
}

/**
 * The corrupt resource as a report entry, warned about once.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Plan, Reporter, StoredResource } from "../mod.ts";
 *
 * function keep(plan: Plan, found: StoredResource, reason: string, reporter: Reporter): void {
 *   plan.corrupt?.push(reportCorrupt(found, reason, reporter));
 * }
 * ```
 */
export function reportCorrupt(
  found: StoredResource,
  reason: string,
  reporter: Reporter,
): CorruptResource {
  reporter.warn(`${reason}; left alone (pass ${REMOVE_CORRUPT} to remove it)`);
  return { address: `${found.meta?.kind}.${found.name}`, name: found.name, dir: found.dir, reason };
}

/**
 * Throws when a declared resource's directory is corrupt and removal was not asked for.
 *
 * @example
 * ```ts
 * refuseCorruptDeclared("web", "unreadable metadata", true); // removal asked for: returns
 * try {
 *   refuseCorruptDeclared("web", "unreadable metadata", false);
 * } catch (e) {
 *   console.log((e as Error).message); // "web: unreadable metadata; pass --remove-corrupt …"
 * }
 * ```
 */
export function refuseCorruptDeclared(name: string, reason: string, remove: boolean): void {
  if (remove) return;
  throw new PlanError(name, "", `${reason}; pass ${REMOVE_CORRUPT} to replace it`);
}

/**
 * The change that removes a corrupt directory, and what the step observed:
 * no metadata, so apply removes the directory as it would an unfinished create.
 *
 * @example
 * ```ts
 * const { change, observed } = corruptRemoval("unreadable metadata");
 * console.log(change.forcesReplace, observed.meta); // true null
 * ```
 */
export function corruptRemoval(reason: string): { change: Change; observed: Observed } {
  return {
    change: { path: "", before: "(corrupt)", reason, hitless: false, forcesReplace: true },
    observed: { meta: null, state: null },
  };
}

/**
 * Replaces a declared resource whose directory is corrupt (asked for with
 * removeCorrupt): the directory goes as an unfinished create would.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Resource, StateStore } from "../mod.ts";
 * import type { DriverContext } from "./types.ts";
 *
 * async function replace(ctx: DriverContext, store: StateStore, resource: Resource, dir: string) {
 *   const step = await planCorruptDeclared(ctx, store, resource, dir, "unreadable metadata");
 *   console.log(step.action); // "replace"
 * }
 * ```
 */
export async function planCorruptDeclared(
  ctx: DriverContext,
  store: StateStore,
  resource: Resource,
  dir: string,
  reason: string,
): Promise<Step> {
  const desired = await store.driver(resource.kind).resolve(ctx, resource);
  const { change, observed } = corruptRemoval(reason);
  return {
    address: `${resource.kind}.${resource.name}`,
    kind: resource.kind,
    name: resource.name,
    dir,
    action: "replace",
    changes: [change],
    drift: [],
    hitless: false,
    specHash: hashJson(resource.spec),
    observed,
    desired,
    spec: resource.spec,
  };
}

/**
 * Removes an undeclared corrupt directory (asked for with removeCorrupt).
 *
 * @example
 * ```ts
 * const step = corruptDelete({ name: "old", dir: "/sys/fs/bpf/sockform/edge/old", meta: null }, "x");
 * console.log(step.action); // "delete"
 * ```
 */
export function corruptDelete(found: StoredResource, reason: string): Step {
  const { change, observed } = corruptRemoval(reason);
  return {
    address: `${found.meta?.kind}.${found.name}`,
    kind: String(found.meta?.kind),
    name: found.name,
    dir: found.dir,
    action: "delete",
    changes: [change],
    drift: [],
    hitless: false,
    specHash: "",
    observed,
  };
}
