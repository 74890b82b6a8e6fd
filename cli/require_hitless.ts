/**
 * `--require-hitless` on plan and apply: a CI gate that fails when any step
 * would disturb live traffic.
 *
 * @module
 */
import type { Plan } from "../engine/plan.ts";
import { UserError } from "../engine/errors.ts";

/**
 * Throws a UserError (exit 1) naming every step that changes something and
 * is not hitless, as `Kind.name (action)`; returns when all are hitless.
 *
 * @example Gate an apply
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { applyStack, type Stack, type StateStore } from "../mod.ts";
 *
 * async function gatedApply(stack: Stack, store: StateStore): Promise<void> {
 *   await applyStack(stack, store, { confirm: (p) => (assertHitless(p), true) });
 * }
 * ```
 */
export function assertHitless(plan: Plan): void {
  const bad = plan.steps.filter((s) => s.action !== "no-op" && !s.hitless);
  if (!bad.length) return;
  const names = bad.map((s) => `${s.address} (${s.action})`).join(", ");
  throw new UserError(`--require-hitless: ${bad.length} step(s) not hitless: ${names}`);
}
