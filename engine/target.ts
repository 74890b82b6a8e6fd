/**
 * Resource targeting (Terraform's `-target`): a plan narrowed to the targeted
 * resources and everything they depend on.
 *
 * @module
 */
import type { Plan } from "./plan.ts";
import type { Stack } from "./stack.ts";

/** Which way a target pulls in other resources: apply needs what it depends on, destroy what depends on it. */
export type TargetDirection = "dependencies" | "dependents";

/** Each resource's address and the addresses it reaches one step in `direction`. */
function edges(stack: Stack, direction: TargetDirection): Map<string, string[]> {
  const address = new Map(stack.resources.map((r) => [r.name, `${r.kind}.${r.name}`]));
  const out = new Map<string, string[]>([...address.values()].map((a) => [a, []]));
  for (const r of stack.resources) {
    for (const dep of r.dependsOn ?? []) {
      const to = address.get(dep);
      if (!to) continue;
      const [from, reached] = direction === "dependencies"
        ? [`${r.kind}.${r.name}`, to]
        : [to, `${r.kind}.${r.name}`];
      out.get(from)!.push(reached);
    }
  }
  return out;
}

/** The targeted addresses plus, transitively, the stack resources they reach in `direction`. */
function targetClosure(
  stack: Stack,
  targets: readonly string[],
  direction: TargetDirection,
): Set<string> {
  const next = edges(stack, direction);
  const out = new Set<string>();
  const visit = (address: string) => {
    if (out.has(address)) return;
    out.add(address);
    for (const reached of next.get(address) ?? []) visit(reached);
  };
  targets.forEach(visit);
  return out;
}

/**
 * The plan with only the steps for `targets` (addresses `Kind.name`) and what
 * they depend on, or for a destroy (`direction: "dependents"`, as Terraform's
 * `destroy -target`) what depends on them; a targeted address the stack no
 * longer declares selects its delete. An empty or absent `targets` returns
 * the plan unchanged.
 *
 * @example Plan one resource
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { plan, type Stack, type StateStore } from "../mod.ts";
 *
 * async function planWeb(stack: Stack, store: StateStore) {
 *   return targetPlan(await plan(stack, store), stack, ["SocketLookupRedirect.web"]);
 * }
 * ```
 */
export function targetPlan(
  p: Plan,
  stack: Stack,
  targets?: readonly string[],
  direction: TargetDirection = "dependencies",
): Plan {
  if (!targets?.length) return p;
  const keep = targetClosure(stack, targets, direction);
  return { ...p, steps: p.steps.filter((s) => keep.has(s.address)) };
}
