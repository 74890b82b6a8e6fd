/**
 * The human plan: `+ ~ - -/+` symbols, colour unless NO_COLOR or --no-color.
 *
 * @module
 */
import type { Change, ForeignProgram } from "./types.ts";
import type { Plan, Step } from "./plan.ts";

const SYMBOL = { create: "+", update: "~", delete: "-", replace: "-/+", "no-op": " " } as const;
const COLOR = { create: 32, update: 33, delete: 31, replace: 35, "no-op": 2 } as const;

/** Colour on/off, decided once by the CLI. */
export interface RenderOptions {
  /** True to colour actions with ANSI escapes. */
  color: boolean;
}

function paint(on: boolean, code: number, text: string): string {
  return on ? `\x1b[${code}m${text}\x1b[0m` : text;
}

function show(value: unknown): string {
  if (value === undefined) return "(none)";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function renderChange(change: Change, o: RenderOptions, mark: string): string {
  const sym = change.before === undefined ? "+" : change.after === undefined ? "-" : "~";
  const code = sym === "+" ? 32 : sym === "-" ? 31 : 33;
  const what = sym === "~"
    ? `${show(change.before)} → ${show(change.after)}`
    : show(sym === "+" ? change.after : change.before);
  const hit = change.hitless ? "" : paint(o.color, 31, " [not hitless]");
  const path = change.path ? `${change.path}: ` : "";
  return `      ${mark}${paint(o.color, code, sym)} ${path}${what}  # ${change.reason}${hit}`;
}

/** Terraform's header verbs, which tfcmt and other PR bots parse. */
const HEADER = {
  create: "will be created",
  update: "will be updated in-place",
  delete: "will be destroyed",
  replace: "must be replaced",
} as const;

function renderStep(step: Step, o: RenderOptions): string[] {
  if (step.action === "no-op" && step.drift.length === 0 && !step.foreign?.length) return [];
  const hit = step.hitless ? "(hitless)" : paint(o.color, 31, "(NOT hitless)");
  const lines = step.action === "no-op" ? [`  ${step.address}  up to date`] : [
    `  # ${step.address} ${HEADER[step.action]}`,
    `  ${paint(o.color, COLOR[step.action], SYMBOL[step.action])} ${step.address}  ${hit}`,
  ];
  const driftPaths = new Set(step.drift.map((d) => d.path));
  for (const d of step.drift) lines.push(renderChange(d, o, paint(o.color, 35, "drift ")));
  for (const c of step.changes) if (!driftPaths.has(c.path)) lines.push(renderChange(c, o, ""));
  for (const f of step.foreign ?? []) lines.push(`      ${renderForeign(f, o)}`);
  return [...lines, ""];
}

/**
 * One line for a program sockform does not own on a hook a resource uses.
 *
 * @example
 * ```ts
 * import type { ForeignProgram } from "../mod.ts";
 *
 * const found: ForeignProgram = {
 *   hook: "sk_lookup", target: "netns /run/netns/lab", progId: 42, linkId: 7,
 *   name: "steal80", tag: "0123456789abcdef", owner: null, runs: "before",
 *   canOverride: true, effect: "runs before ours: a socket it assigns wins",
 * };
 * console.log(renderForeign(found, { color: false }));
 * // ! foreign sk_lookup program id 42 "steal80" (link 7, not sockform's) on netns /run/netns/lab: runs before ours: …
 * ```
 */
export function renderForeign(f: ForeignProgram, o: RenderOptions): string {
  const link = f.linkId === null ? "no link" : `link ${f.linkId}`;
  const whose = f.owner ?? "not sockform's";
  const can = f.canOverride ? paint(o.color, 31, " [can override]") : "";
  return `${paint(o.color, 33, "!")} foreign ${f.hook} program id ${f.progId} "${f.name}" ` +
    `(${link}, ${whose}) on ${f.target}: ${f.effect}${can}`;
}

/**
 * The closing warning when foreign programs share this stack's hooks; empty when none do.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Plan } from "../mod.ts";
 *
 * function warn(plan: Plan): void {
 *   const warning = foreignWarning(plan.steps.flatMap((s) => s.foreign ?? []));
 *   if (warning) console.warn(warning);
 * }
 * ```
 */
export function foreignWarning(foreign: ForeignProgram[]): string {
  if (foreign.length === 0) return "";
  const over = foreign.filter((f) => f.canOverride).length;
  return `Warning: ${foreign.length} foreign program(s) share hooks with this stack` +
    (over ? `, ${over} of which can override it` : "") +
    " (lines marked !). sockform neither manages nor counts them as changes.";
}

/** Counts steps per action, for the summary line and JSON. */
export function summarize(plan: Plan): Record<"create" | "update" | "replace" | "delete", number> {
  const n = { create: 0, update: 0, replace: 0, delete: 0 };
  for (const s of plan.steps) if (s.action !== "no-op") n[s.action]++;
  return n;
}

/**
 * Terraform's summary line: a replace counts as one to add and one to destroy.
 *
 * @example Terraform's summary line
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Plan } from "../mod.ts";
 *
 * function summary(p: Plan): string {
 *   return planSummary(p); // "Plan: 1 to add, 0 to change, 0 to destroy."
 * }
 * ```
 */
export function planSummary(plan: Plan): string {
  const n = summarize(plan);
  return `Plan: ${n.create + n.replace} to add, ${n.update} to change, ` +
    `${n.delete + n.replace} to destroy.`;
}

/**
 * Terraform's closing line of an apply or destroy, counted from the plan
 * that ran: "Apply complete! Resources: 1 added, 0 changed, 0 destroyed." or
 * "Destroy complete! Resources: 2 destroyed." (a replace counts as one added
 * and one destroyed, as in {@linkcode planSummary}).
 *
 * @example The line tfcmt and people read after `apply`
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ApplyOutcome } from "../mod.ts";
 *
 * function closing(outcome: ApplyOutcome): string {
 *   return completeSummary(outcome.plan, "apply"); // "Apply complete! Resources: 1 added, …"
 * }
 * ```
 */
export function completeSummary(plan: Plan, command: "apply" | "destroy"): string {
  const n = summarize(plan);
  const destroyed = n.delete + n.replace;
  if (command === "destroy") return `Destroy complete! Resources: ${destroyed} destroyed.`;
  return `Apply complete! Resources: ${n.create + n.replace} added, ${n.update} changed, ` +
    `${destroyed} destroyed.`;
}

/**
 * Renders a plan for people, with Terraform's `# <address> will be …`
 * headers and summary line so tools that parse Terraform's text read it.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { plan, type Stack, type StateStore } from "../mod.ts";
 *
 * async function review(stack: Stack, store: StateStore): Promise<void> {
 *   console.log(renderPlan(await plan(stack, store), { color: false }));
 * }
 * ```
 */
export function renderPlan(plan: Plan, o: RenderOptions): string {
  const lines = [`sockform plan for stack "${plan.stack}" (${plan.stackDir})`, ""];
  const body = plan.steps.flatMap((step) => renderStep(step, o));
  if (plan.steps.some((s) => s.action !== "no-op")) {
    lines.push("sockform will perform the following actions:", "");
  }
  lines.push(...body);
  if (body.length === 0) lines.push("");
  const notHitless = plan.steps.filter((s) => s.action !== "no-op" && !s.hitless).length;
  if (plan.steps.every((s) => s.action === "no-op")) {
    lines.push("No changes. The kernel matches the stack.");
  } else {
    lines.push(planSummary(plan));
    lines.push(notHitless ? `${notHitless} step(s) not hitless.` : "All steps hitless.");
  }
  const warning = foreignWarning(plan.steps.flatMap((s) => s.foreign ?? []));
  if (warning) lines.push(paint(o.color, 33, warning));
  return lines.join("\n");
}
