/**
 * Terminal output: colour decisions, progress on stderr, one-line errors.
 *
 * @module
 */
import type { Reporter } from "../engine/types.ts";
import { UserError } from "../engine/errors.ts";
import { BpfError } from "../providers/errno.ts";
import { MissingProgramError } from "../providers/programs.ts";

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
  if (e instanceof UserError || e instanceof BpfError || e instanceof MissingProgramError) {
    const first = e.message.split("\n")[0];
    console.error(`error: ${first}`);
    if (e instanceof BpfError && e.log) console.error(e.log.split("\n").slice(-20).join("\n"));
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
