/**
 * The `agent` and `metrics` commands' flags (see cli/agent.ts).
 *
 * @module
 */
import type { Command } from "commander";
import {
  type AgentFlags,
  DEFAULT_CACHE_DIR,
  DEFAULT_STATUS_FILE,
  printMetrics,
  runAgent,
} from "./agent.ts";

type Runner = (
  handler: (...args: never[]) => Promise<number>,
) => (...a: unknown[]) => Promise<void>;

function stateRoot(cmd: Command): string | undefined {
  return (cmd.optsWithGlobals() as { stateRoot?: string }).stateRoot;
}

/**
 * Adds `agent` (the reconcile loop) and `metrics` (its text, once) to the program.
 *
 * @example Register on a commander program
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Command } from "commander";
 *
 * function register(program: Command, run: Parameters<typeof addOpsCommands>[1]): void {
 *   addOpsCommands(program, run);
 * }
 * ```
 */
export function addOpsCommands(program: Command, run: Runner): void {
  const statusOpt = [
    "--status-file <file>",
    "the agent's status JSON",
    DEFAULT_STATUS_FILE,
  ] as const;
  program.command("agent").description("reconcile loop: plan and apply (or report) every interval")
    .option("-s, --stack <file>", "stack file").option("--git <url>", "git repository URL")
    .option("--ref <ref>", "git ref to follow", "HEAD")
    .option("--path <path>", "the stack file inside the repository", "stack.ts")
    .option("--interval <duration>", "time between loops", "30s")
    .option("--mode <mode>", "apply, or report only", "apply")
    .option("--require-hitless", "hold back steps that are not hitless (awaiting approval)")
    .option(...statusOpt).option("--metrics-listen <host:port>", "serve /metrics and /healthz")
    .option("--lock-timeout <duration>", "wait this long for the state lock, then report", "5s")
    .option("--cache-dir <dir>", "where git sources are fetched", DEFAULT_CACHE_DIR)
    .action(run((f: AgentFlags, cmd: Command) => runAgent(f, stateRoot(cmd))));
  program.command("metrics").description("print the Prometheus metrics once (textfile collector)")
    .option(...statusOpt)
    .action(
      run((f: { statusFile: string }, cmd: Command) => printMetrics(f.statusFile, stateRoot(cmd))),
    );
}
