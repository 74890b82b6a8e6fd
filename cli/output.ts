/**
 * Terminal output: colour decisions, progress on stderr, one-line errors.
 *
 * @module
 */
import { StackProblems } from "../engine/diagnostics.ts";
import type { Reporter } from "../engine/types.ts";
import { UserError } from "../engine/errors.ts";
import { KernelCallError } from "../providers/system/errno.ts";
import type { ShownResource } from "../engine/session.ts";
import { renderForeign } from "../engine/render_human.ts";
import { permissionLine } from "./permission.ts";

/** True when an environment variable is set to something other than empty, 0 or false. */
function envOn(name: string): boolean {
  const v = Deno.env.get(name);
  return v !== undefined && !["", "0", "false"].includes(v.toLowerCase());
}

/**
 * Colour: off with --no-color; else on when FORCE_COLOR is set (CI logs that
 * render ANSI); else off when NO_COLOR is set; else on for a TTY.
 */
export function useColor(flag: boolean | undefined): boolean {
  if (flag === false) return false;
  if (envOn("FORCE_COLOR")) return true;
  if (Deno.env.get("NO_COLOR") !== undefined) return false;
  return Deno.stdout.isTerminal();
}

/**
 * A reporter whose `tick` repeats a running step with its elapsed time.
 *
 * @example Stopping the ticks once apply returns
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { applyStack, type Stack, type StateStore } from "../mod.ts";
 *
 * async function deploy(stack: Stack, store: StateStore): Promise<void> {
 *   const reporter: TickingReporter = stderrReporter();
 *   await applyStack(stack, store, { reporter }).finally(() => reporter.stop());
 * }
 * ```
 */
export interface TickingReporter extends Reporter {
  /** Prints `still running… [Ns elapsed]` for the step under way, if any. */
  tick(): void;
  /** Stops the periodic ticks (see {@link stderrReporter}). */
  stop(): void;
}

/** An apply step's progress line (`[2/5] update Kind.name`), the only kind that ticks. */
const STEP = /^\[\d+\/\d+\] /;

/**
 * Progress with Terraform's elapsed-time lines: while an apply step runs,
 * `tick()` prints it again with the seconds since it started.
 *
 * @example A step that runs for ten seconds
 * ```ts
 * const r = tickingReporter((l) => console.error(l), () => Date.now());
 * r.progress("[1/1] create Kind.a"); // later: r.tick() → "… [1/1] create Kind.a: still running… [10s elapsed]"
 * ```
 */
export function tickingReporter(write: (line: string) => void, now: () => number): TickingReporter {
  let current: { message: string; since: number } | null = null;
  return {
    progress(m) {
      current = STEP.test(m) ? { message: m, since: now() } : null;
      write(`… ${m}`);
    },
    warn: (m) => write(`warning: ${m}`),
    tick() {
      if (!current) return;
      const s = Math.floor((now() - current.since) / 1000);
      write(`… ${current.message}: still running… [${s}s elapsed]`);
    },
    stop() {
      current = null;
    },
  };
}

/**
 * Progress lines go to stderr so stdout stays machine-readable; a step that
 * runs long is repeated every 10 s with its elapsed time. The timer does not
 * keep the process alive; `stop()` ends it.
 */
export function stderrReporter(everyMs = 10_000): TickingReporter {
  const r = tickingReporter((l) => console.error(l), () => Date.now());
  const timer = setInterval(() => r.tick(), everyMs);
  Deno.unrefTimer(timer);
  return { ...r, stop: () => (r.stop(), clearInterval(timer)) };
}

/**
 * Prints an error as one `Error: …` line, Terraform's prefix that PR bots look
 * for (a stack trace only for bugs, or with SOCKFORM_DEBUG).
 */
export function printError(e: unknown): void {
  const denied = permissionLine(e);
  if (denied) {
    console.error(`Error: ${denied}`);
    if (Deno.env.get("SOCKFORM_DEBUG")) console.error(e instanceof Error ? e.stack : e);
    return;
  }
  if (e instanceof StackProblems) {
    for (const line of e.message.split("\n")) console.error(`Error: ${line}`);
    return;
  }
  if (e instanceof UserError || e instanceof KernelCallError) {
    const first = e.message.split("\n")[0];
    console.error(`Error: ${first}`);
    if (e instanceof KernelCallError && e.log) {
      console.error(e.log.split("\n").slice(-20).join("\n"));
    }
    if (Deno.env.get("SOCKFORM_DEBUG")) console.error(e.stack);
    return;
  }
  const msg = e instanceof Error ? e.message : String(e);
  console.error(`Error: ${msg.split("\n")[0]}`);
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
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ShownResource } from "../mod.ts";
 *
 * function line(r: ShownResource): string {
 *   return `${r.address}: ${shownState(r)}`;
 * }
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
