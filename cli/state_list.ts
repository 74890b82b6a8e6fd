/**
 * `sockform state list`: the addresses of the resources in the stack's state,
 * one per line, as `terraform state list` prints them.
 *
 * @module
 */
import type { StateStore } from "../engine/store.ts";

/**
 * The stack's resource addresses in the state root, `Kind.name`, sorted.
 * A resource whose metadata is missing (an unfinished create) is listed as
 * `unknown.<name>`, as `show` names it. Creates nothing.
 *
 * @example List a stack's resources
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { kernelStore } from "../mod.ts";
 *
 * function list(): void {
 *   for (const a of stateAddresses(kernelStore(), "edge")) console.log(a);
 * }
 * ```
 */
export function stateAddresses(store: StateStore, stackName: string): string[] {
  const dir = store.openStack(stackName, false);
  return store.list(dir).map((r) => `${r.meta?.kind ?? "unknown"}.${r.name}`).sort();
}
