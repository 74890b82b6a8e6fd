/**
 * Resource targeting (Terraform's `-target`): a plan narrowed to the targeted
 * resources and everything they depend on.
 *
 * @module
 */
import type { Plan } from "./plan.ts";
import type { Stack } from "./stack.ts";

/** The targeted addresses plus, transitively, the stack resources they depend on. */
function targetClosure(stack: Stack, targets: readonly string[]): Set<string> {
  const byName = new Map(stack.resources.map((r) => [r.name, r]));
  const byAddress = new Map(stack.resources.map((r) => [`${r.kind}.${r.name}`, r]));
  const out = new Set<string>();
  const visit = (address: string) => {
    if (out.has(address)) return;
    out.add(address);
    for (const dep of byAddress.get(address)?.dependsOn ?? []) {
      const r = byName.get(dep);
      if (r) visit(`${r.kind}.${r.name}`);
    }
  };
  targets.forEach(visit);
  return out;
}

/**
 * The plan with only the steps for `targets` (addresses `Kind.name`) and what
 * they depend on; a targeted address the stack no longer declares selects its
 * delete. An empty or absent `targets` returns the plan unchanged.
 *
 * @example Plan one resource
 * ```ts
 * const p = targetPlan(await plan(stack, store), stack, ["SocketLookupRedirect.web"]);
 * ```
 */
export function targetPlan(p: Plan, stack: Stack, targets?: readonly string[]): Plan {
  if (!targets?.length) return p;
  const keep = targetClosure(stack, targets);
  return { ...p, steps: p.steps.filter((s) => keep.has(s.address)) };
}
