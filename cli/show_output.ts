/**
 * `show`'s human output: one Terraform-like block per resource, and a saved
 * plan shown as `plan` would have shown it.
 *
 * @module
 */
import type { ShownResource } from "../engine/session.ts";
import { planFromSaved, readSavedPlan } from "../engine/saved_plan.ts";
import { renderPlan } from "../engine/render_human.ts";
import { shownForeign, shownState } from "./output.ts";

const BARE_KEY = /^[A-Za-z_][\w-]*$/;

function key(k: string): string {
  return BARE_KEY.test(k) ? k : JSON.stringify(k);
}

function scalar(v: unknown): string {
  return v === undefined ? "null" : JSON.stringify(v);
}

function isFlat(v: unknown[]): boolean {
  return v.every((x) => x === null || typeof x !== "object");
}

/** `value` as HCL-like lines (Terraform's `show` style), the first line without indent. */
function attribute(v: unknown, pad: string): string[] {
  if (Array.isArray(v)) {
    if (isFlat(v)) return [`[${v.map(scalar).join(", ")}]`];
    const items = v.flatMap((x) => {
      const [first, ...rest] = attribute(x, `${pad}    `);
      return [`${pad}    ${first}`, ...rest.slice(0, -1), `${rest.at(-1) ?? ""},`];
    });
    return ["[", ...items, `${pad}]`];
  }
  if (v === null || typeof v !== "object") return [scalar(v)];
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length === 0) return ["{}"];
  return ["{", ...attributes(entries, `${pad}    `), `${pad}}`];
}

function attributes(entries: [string, unknown][], pad: string): string[] {
  const width = Math.max(...entries.map(([k]) => key(k).length));
  return entries.flatMap(([k, v]) => {
    const [first, ...rest] = attribute(v, pad);
    return [`${pad}${key(k).padEnd(width)} = ${first}`, ...rest];
  });
}

/**
 * One resource as `show` prints it: a `# address: state` line, foreign
 * programs, then its kernel details as a Terraform-like block.
 *
 * @example Printing one deployed resource
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ShownResource } from "../mod.ts";
 *
 * function print(r: ShownResource): void {
 *   for (const line of shownBlock(r, false)) console.log(line);
 *   // # SocketLookupRedirect.web: in sync
 *   // resource "SocketLookupRedirect" "web" {
 *   //     counters = { … }
 *   // }
 * }
 * ```
 */
export function shownBlock(r: ShownResource, color: boolean): string[] {
  const lines = [`# ${r.address}: ${r.corrupt ?? shownState(r)}`, ...shownForeign(r, color)];
  if (r.details === undefined || r.details === null) return [...lines, ""];
  const dot = r.address.indexOf(".");
  const head = `resource "${r.address.slice(0, dot)}" "${r.address.slice(dot + 1)}" {`;
  const body = typeof r.details === "object" && !Array.isArray(r.details)
    ? attributes(Object.entries(r.details as Record<string, unknown>), "    ")
    : [`    details = ${attribute(r.details, "    ").join("\n")}`];
  return [...lines, head, ...body, "}", ""];
}

/**
 * `show <saved plan>`: the plan as reviewed, human (as `plan` printed it) or
 * its plan JSON.
 *
 * @example Showing a saved plan as plan printed it
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function show(path: string): void {
 *   console.log(showSavedPlan(path, { json: false, color: false })); // e.g. path "p1.tfplan"
 * }
 * ```
 */
export function showSavedPlan(path: string, o: { json: boolean; color: boolean }): string {
  const saved = readSavedPlan(path);
  if (o.json) return JSON.stringify(saved.plan, null, 2);
  return renderPlan(planFromSaved(saved), { color: o.color });
}
