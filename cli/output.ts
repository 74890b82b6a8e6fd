/**
 * Terminal output: colour decisions, progress on stderr, one-line errors.
 *
 * @module
 */
import type { Reporter } from "../engine/types.ts";
import { UserError } from "../engine/errors.ts";
import { KernelCallError } from "../providers/system/errno.ts";
import type { ShownResource } from "../engine/session.ts";
import { renderForeign } from "../engine/render_human.ts";
import { permissionLine } from "./permission.ts";

/** Colour is on for a TTY unless NO_COLOR is set or --no-color was passed. */
export function useColor(flag: boolean | undefined): boolean {
  if (flag === false || Deno.env.get("NO_COLOR") !== undefined) return false;
  return Deno.stdout.isTerminal();
}

/** Progress lines go to stderr so stdout stays machine-readable. */
export function stderrReporter(): Reporter {
  return {
    progress: (m) => console.error(`… ${m}`),
    warn: (m) => console.error(`warning: ${m}`),
  };
}

/** Prints an error as one line (a stack trace only for bugs, or with SOCKFORM_DEBUG). */
export function printError(e: unknown): void {
  const denied = permissionLine(e);
  if (denied) {
    console.error(`error: ${denied}`);
    if (Deno.env.get("SOCKFORM_DEBUG")) console.error(e instanceof Error ? e.stack : e);
    return;
  }
  if (e instanceof UserError || e instanceof KernelCallError) {
    const first = e.message.split("\n")[0];
    console.error(`error: ${first}`);
    if (e instanceof KernelCallError && e.log) {
      console.error(e.log.split("\n").slice(-20).join("\n"));
    }
    if (Deno.env.get("SOCKFORM_DEBUG")) console.error(e.stack);
    return;
  }
  const msg = e instanceof Error ? e.message : String(e);
  console.error(`error: ${msg.split("\n")[0]}`);
  if (Deno.env.get("SOCKFORM_DEBUG")) console.error(e instanceof Error ? e.stack : e);
  else console.error("(this looks like a sockform bug; rerun with SOCKFORM_DEBUG=1 for details)");
}

/** Asks for "yes" on a TTY. */
export function askYes(question: string): boolean {
  const answer = prompt(`${question} Only 'yes' will be accepted:`);
  return answer?.trim() === "yes";
}

/**
 * `show`'s state phrase for one resource, naming foreign programs that can
 * override it even when it is in sync.
 *
 * @example
 * ```ts
 * console.log(`${r.address}: ${shownState(r)}`);
 * ```
 */
export function shownState(r: ShownResource): string {
  const state = !r.deployed
    ? "not deployed"
    : r.inSync
    ? "in sync"
    : r.problem
    ? `deployed, but the stack cannot be planned: ${r.problem}`
    : "differs from the stack (run plan)";
  const over = (r.foreign ?? []).filter((f) => f.canOverride).length;
  return over ? `${state}, but ${over} foreign program(s) on its hooks can override it` : state;
}

/** `show`'s lines for foreign programs on a resource's hooks, indented under it. */
export function shownForeign(r: ShownResource, color: boolean): string[] {
  return (r.foreign ?? []).map((f) => `    ${renderForeign(f, { color })}`);
}
