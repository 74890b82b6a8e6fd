/**
 * Where the engine finds state and drivers: the live kernel (providers/state/kernel_store.ts)
 * or the in-memory fake (engine/testing/fake.ts) for fast engine tests.
 *
 * @module
 */
import type { Change, KindDriver, ResourceMeta, Transaction } from "./types.ts";

/** One resource directory found under the stack's state directory. */
export interface StoredResource {
  /** The resource's name (the directory's name). */
  name: string;
  /** The directory's path. */
  dir: string;
  /** null when the metadata pin is missing or unreadable (an unfinished create). */
  meta: ResourceMeta | null;
}

/**
 * The engine's view of the state backend.
 *
 * @example Looking up a driver
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function slrDriver(store: StateStore) {
 *   return store.driver("SocketLookupRedirect");
 * }
 * ```
 */
export interface StateStore {
  /** Human description, e.g. the state root path. */
  readonly root: string;
  /**
   * Ensures the root (and the stack's directory) exist; returns the stack dir.
   * With `create` false (plan, show), checks what exists and creates nothing.
   */
  openStack(stackName: string, create?: boolean): string;
  /** The resource directories under a stack dir. */
  list(stackDir: string): StoredResource[];
  /**
   * Exclusive writer lock on the stack dir; resolves to the release function.
   * It holds across the directory's removal (under the lock) and re-creation.
   * `timeoutMs` undefined waits for ever; otherwise a UserError naming the
   * holder once it has waited that long (0: one try, Terraform's default).
   */
  lock(stackDir: string, timeoutMs?: number): Promise<() => void>;
  /**
   * The driver for a kind; throws for an unknown kind.
   *
   * @internal The engine's, not the library's: drivers are not a public API yet.
   */
  driver(kind: string): KindDriver;
  /** Removes a directory with no readable metadata (what an interrupted create leaves). */
  removeUnknown(dir: string): Promise<void>;
  /**
   * Optional: kind-agnostic drift in a resource directory (foreign objects at
   * its pin names, owners and modes), added to every kind's own diff.
   */
  audit?(dir: string): Change[];
  /**
   * Optional: repairs the owner and mode drift `audit` reports, with undo.
   *
   * @internal The engine's, as `driver`.
   */
  repair?(dir: string, tx: Transaction): void;
  /** Under the lock, after apply or destroy: removes the stack's directory if it is empty. */
  removeStackIfEmpty(stackDir: string): void;
}
