/**
 * Runs the sockform CLI (the same commander program `main.ts` builds) inside the test process.
 *
 * Why: in the TCG guests of the VM tier one `deno run -A main.ts …` spends ~14 s loading its
 * ~190 modules (0.3 s on the host), and the lifecycle tests make dozens of such calls. The
 * kernel-facing code a guest run exists to prove is the same in-process; the CLI's process
 * plumbing (exit codes, signals, locks between processes) is proven on the host, where the
 * helpers keep spawning `deno run`. The VM runner turns this on with
 * `SOCKFORM_TEST_CLI_IN_PROCESS=1`; calls that pass their own environment or stdin (fault
 * injection, prompts) still spawn a process.
 *
 * @module
 */
import { buildCli } from "../../cli/commands.ts";
import { terraformFlags } from "../../cli/target.ts";

/** What one in-process CLI run printed and its exit code. */
export interface InProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** True when the test helpers should run the CLI in-process (set by the VM runner). */
export function cliInProcess(): boolean {
  return Deno.env.get("SOCKFORM_TEST_CLI_IN_PROCESS") === "1";
}

/** Callers run one CLI at a time: console and Deno.exitCode are process-wide. */
let queue: Promise<unknown> = Promise.resolve();

/**
 * `main.ts ARGS` without colour, with console output captured and `Deno.exitCode` given back.
 *
 * @example Plan a stack file
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function planExitCode(file: string, root: string): Promise<number> {
 *   return (await runCliInProcess(["plan", "--detailed-exitcode", "-s", file, "--state-root", root])).code;
 * }
 * ```
 */
export function runCliInProcess(args: string[]): Promise<InProcessResult> {
  const next = queue.then(() => runOnce(args));
  queue = next.catch(() => {});
  return next;
}

type ConsoleMethod = "log" | "info" | "warn" | "error";

async function runOnce(args: string[]): Promise<InProcessResult> {
  const out: string[] = [];
  const err: string[] = [];
  const saved = new Map<ConsoleMethod, (...a: unknown[]) => void>();
  for (
    const [method, sink] of [["log", out], ["info", out], ["warn", err], ["error", err]] as const
  ) {
    saved.set(method, console[method]);
    console[method] = (...a: unknown[]) => sink.push(a.map(text).join(" ") + "\n");
  }
  const exitCode = Deno.exitCode;
  const noColor = Deno.env.get("NO_COLOR");
  Deno.env.set("NO_COLOR", "1");
  Deno.exitCode = 0;
  try {
    await buildCli().parseAsync(terraformFlags(args), { from: "user" });
    return { code: Deno.exitCode, stdout: out.join(""), stderr: err.join("") };
  } finally {
    for (const [method, fn] of saved) console[method] = fn;
    Deno.exitCode = exitCode;
    if (noColor === undefined) Deno.env.delete("NO_COLOR");
    else Deno.env.set("NO_COLOR", noColor);
  }
}

function text(value: unknown): string {
  return typeof value === "string" ? value : Deno.inspect(value, { colors: false });
}
