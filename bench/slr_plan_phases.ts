/**
 * One cold no-op `plan` in a fresh process, split into phases, printed as
 * JSON: how long until this module's body starts (Deno start-up plus loading
 * the engine's module graph), loading and validating the stack, `plan()`
 * against the kernel, and rendering. Run by bench/slr_noop_plan.ts:
 *
 *     SF_BENCH_NETNS=/run/netns/… deno run -A bench/slr_plan_phases.ts STATE_ROOT
 *
 * @module
 */
import { hasChanges, plan } from "../engine/plan.ts";
import { kernelStore } from "../providers/state/kernel_store.ts";
import { renderPlan } from "../engine/render_human.ts";
import type { Stack } from "../engine/stack.ts";

/** Milliseconds spent in each phase of one no-op plan. */
export interface PlanPhases {
  /** From the runtime's time origin to this module's first statement. */
  startupMs: number;
  /** Importing the stack file: building 10,000 bindings and validating them with zod. */
  stackMs: number;
  /** plan(): listener discovery, reading the pins and the bindings map, diff. */
  planMs: number;
  renderMs: number;
  changes: boolean;
}

async function measure(root: string): Promise<PlanPhases> {
  const startupMs = performance.now();
  let t = startupMs;
  const lap = () => {
    const now = performance.now();
    const ms = now - t;
    t = now;
    return ms;
  };
  const stackUrl = new URL("./stacks/slr_bindings.ts", import.meta.url).href;
  const stack: Stack = (await import(stackUrl)).default;
  const stackMs = lap();
  const p = await plan(stack, kernelStore(root));
  const planMs = lap();
  renderPlan(p, { color: false });
  const renderMs = lap();
  return { startupMs, stackMs, planMs, renderMs, changes: hasChanges(p) };
}

if (import.meta.main) {
  const root = Deno.args[0];
  if (!root) throw new Error("usage: slr_plan_phases.ts STATE_ROOT");
  console.log(JSON.stringify(await measure(root)));
}
