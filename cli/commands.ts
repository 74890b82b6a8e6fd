/**
 * The CLI commands: plan, apply, destroy, show, validate (and demo).
 *
 * @module
 */
import { Command } from "commander";
import { kernelStore } from "../providers/state/kernel_store.ts";
import { loadStack, StackLoadTimeout } from "./load_stack.ts";
import { askYes, printError, stderrReporter, useColor } from "./output.ts";
import { errorDiagnostics, validateJson } from "./plan_errors.ts";
import { shownBlock, showSavedPlan } from "./show_output.ts";
import { hasChanges, plan } from "../engine/plan.ts";
import { completeSummary, renderPlan } from "../engine/render_human.ts";
import { erroredPlanJson, planJson } from "../engine/render_json.ts";
import {
  isSavedPlanFile,
  readSavedPlan,
  type SavedPlan,
  toSavedPlan,
} from "../engine/saved_plan.ts";
import { TOOL_VERSION } from "../engine/version.ts";
import { applyStack, destroyStack, showStack } from "../engine/session.ts";
import type { Plan } from "../engine/plan.ts";
import { UserError } from "../engine/errors.ts";
import { agentUnitCommand } from "./agent_unit.ts";
import { versionText } from "./version.ts";
import { parseDuration } from "./duration.ts";
import { stateAddresses } from "./state_list.ts";
import { assertHitless } from "./require_hitless.ts";
import { collect, TARGET_WARNING } from "./target.ts";
import { targetPlan } from "../engine/target.ts";
import { addOpsCommands } from "./agent_command.ts";

interface Globals {
  stateRoot?: string;
  color?: boolean;
}

function globals(cmd: Command): Globals {
  return cmd.optsWithGlobals() as Globals;
}

function confirmer(autoApprove: boolean, color: boolean, verb: string, requireHitless = false) {
  return (p: Plan): boolean => {
    if (requireHitless) assertHitless(p);
    if (autoApprove) return true;
    if (!Deno.stdin.isTerminal()) {
      throw new UserError(`refusing to ${verb} without a TTY: pass --auto-approve`);
    }
    console.log(renderPlan(p, { color }));
    return askYes(`Do you want to ${verb}?`);
  };
}

/** `plan --json` that fails still prints a plan document: Terraform's `errored: true`. */
async function planCommand(opts: Record<string, unknown>, cmd: Command): Promise<number> {
  const p = await planPrinted(opts, cmd);
  // After the plan is shown (a valid document with --json), so CI logs show the steps.
  if (opts.requireHitless) assertHitless(p);
  return opts.detailedExitcode && hasChanges(p) ? 2 : 0;
}

async function planPrinted(opts: Record<string, unknown>, cmd: Command): Promise<Plan> {
  if (!opts.json) return await planOnce(opts, cmd);
  try {
    return await planOnce(opts, cmd);
  } catch (e) {
    console.log(JSON.stringify(erroredPlanJson(errorDiagnostics(e), TOOL_VERSION), null, 2));
    throw e;
  }
}

async function planOnce(opts: Record<string, unknown>, cmd: Command): Promise<Plan> {
  const g = globals(cmd);
  const store = kernelStore(g.stateRoot);
  const stackFile = String(opts.stack);
  const stack = await loadStack(stackFile);
  const targets = opts.target as string[];
  if (targets.length) console.error(TARGET_WARNING);
  const p = targetPlan(
    await plan(stack, store, {
      reporter: stderrReporter(),
      removeCorrupt: Boolean(opts.removeCorrupt),
    }),
    stack,
    targets,
  );
  if (opts.out) {
    const abs = stackFile.startsWith("/") ? stackFile : `${Deno.cwd()}/${stackFile}`;
    Deno.writeTextFileSync(
      String(opts.out),
      JSON.stringify(toSavedPlan(p, abs, store.root, targets), null, 2),
    );
  }
  if (opts.json) console.log(JSON.stringify(planJson(p), null, 2));
  else console.log(renderPlan(p, { color: useColor(g.color) }));
  return p;
}

async function applyCommand(
  target: string | undefined,
  opts: Record<string, unknown>,
  cmd: Command,
) {
  const g = globals(cmd);
  const saved = target && isSavedPlanFile(target) ? readSavedPlan(target) : undefined;
  const store = kernelStore(g.stateRoot ?? saved?.stateRoot);
  const stack = await loadStack(saved?.stackFile ?? target ?? String(opts.stack));
  const color = useColor(g.color);
  const reporter = stderrReporter();
  const targets = appliedTargets(opts.target as string[], saved);
  if (targets.length) console.error(TARGET_WARNING);
  const outcome = await applyStack(stack, store, {
    reporter,
    saved,
    targets,
    removeCorrupt: Boolean(opts.removeCorrupt),
    lockTimeoutMs: parseDuration(String(opts.lockTimeout)),
    confirm: confirmer(
      Boolean(opts.autoApprove) || Boolean(saved),
      color,
      "apply",
      Boolean(opts.requireHitless),
    ),
  }).finally(() => reporter.stop());
  if (outcome.aborted) return reportAborted();
  if (!outcome.applied) console.log("No changes. Your kernel matches the stack.");
  console.log(completeSummary(outcome.plan, "apply"));
  return 0;
}

/** The `-target`s apply narrows to: the command line's, or those a saved plan was made with (as Terraform, not both). */
function appliedTargets(given: string[], saved: SavedPlan | undefined): string[] {
  if (given.length && saved) {
    throw new UserError(
      "-target does not apply to a saved plan: the plan keeps the targets it was made with",
    );
  }
  return saved?.targets ?? given;
}

function reportAborted(): number {
  console.log("Cancelled: nothing was changed.");
  return 1;
}

async function destroyCommand(opts: Record<string, unknown>, cmd: Command): Promise<number> {
  const g = globals(cmd);
  const stack = await loadStack(String(opts.stack));
  const reporter = stderrReporter();
  const targets = opts.target as string[];
  if (targets.length) console.error(TARGET_WARNING);
  const outcome = await destroyStack(stack, kernelStore(g.stateRoot), {
    reporter,
    targets,
    removeCorrupt: Boolean(opts.removeCorrupt),
    lockTimeoutMs: parseDuration(String(opts.lockTimeout)),
    confirm: confirmer(Boolean(opts.autoApprove), useColor(g.color), "destroy"),
  }).finally(() => reporter.stop());
  if (outcome.aborted) return reportAborted();
  console.log(completeSummary(outcome.plan, "destroy"));
  return 0;
}

async function showCommand(
  planFile: string | undefined,
  opts: Record<string, unknown>,
  cmd: Command,
): Promise<number> {
  const g = globals(cmd);
  if (planFile) {
    console.log(showSavedPlan(planFile, { json: Boolean(opts.json), color: useColor(g.color) }));
    return 0;
  }
  const stack = await loadStack(String(opts.stack));
  const shown = await showStack(stack, kernelStore(g.stateRoot), stderrReporter());
  if (opts.json) {
    console.log(
      JSON.stringify({ format_version: "1.0", stack: stack.name, resources: shown }, null, 2),
    );
    return 0;
  }
  for (const r of shown) console.log(shownBlock(r, useColor(g.color)).join("\n"));
  return 0;
}

async function stateListCommand(opts: Record<string, unknown>, cmd: Command): Promise<number> {
  const stack = await loadStack(String(opts.stack));
  for (const a of stateAddresses(kernelStore(globals(cmd).stateRoot), stack.name)) console.log(a);
  return 0;
}

async function validateCommand(opts: Record<string, unknown>): Promise<number> {
  if (opts.json) {
    const error = await loadStack(String(opts.stack)).then(() => undefined, (e) => e ?? null);
    console.log(JSON.stringify(validateJson(error), null, 2));
    if (error !== undefined) throw error;
    return 0;
  }
  const stack = await loadStack(String(opts.stack));
  console.log(`Stack "${stack.name}" is valid: ${stack.resources.length} resource(s).`);
  return 0;
}

type Handler = (...args: never[]) => Promise<number>;

function run(handler: Handler) {
  return async (...args: unknown[]) => {
    try {
      Deno.exitCode = await (handler as (...a: unknown[]) => Promise<number>)(...args);
    } catch (e) {
      printError(e);
      Deno.exitCode = 1;
      // A stack file still loading (timers, reads) would keep the process alive.
      if (e instanceof StackLoadTimeout) Deno.exit(1);
    }
  };
}

const stackOpt = ["-s, --stack <file>", "stack file", "./stack.ts"] as const;
const corruptOpt = [
  "--remove-corrupt",
  "remove resource directories whose metadata names a kind sockform does not know",
] as const;
const hitlessOpt = [
  "--require-hitless",
  "exit 1, naming them, if any step is not hitless (a CI gate)",
] as const;
const targetOpt = [
  "--target <address>",
  "only this resource (Kind.name) and what it depends on; repeatable; also -target",
  collect,
  [] as string[],
] as const;
const destroyTargetOpt = [
  "--target <address>",
  "only this resource (Kind.name) and what depends on it; repeatable; also -target",
  collect,
  [] as string[],
] as const;
const lockOpt = [
  "--lock-timeout <duration>",
  "how long to wait for the state lock (Terraform's default: 0s, fail at once)",
  "0s",
] as const;

/** show, validate, agent-unit, state list, version: the commands that change nothing. */
function addInspectCommands(program: Command): void {
  program.command("show [planFile]").description(
    "what is deployed, as the kernel sees it; or a saved plan (`plan -o`)",
  )
    .option(...stackOpt).option("--json", "machine-readable").action(run(showCommand));
  program.command("validate").description("check the stack file without touching the kernel")
    .option(...stackOpt).option("--json", "Terraform-shaped diagnostics (validate -json)")
    .action(run(validateCommand));
  program.command("agent-unit <name>").description(
    "print a systemd unit that supervises PathManager <name>'s policy agent",
  ).option(...stackOpt).action(run(agentUnitCommand));
  program.command("state").description("inspect the state (the kernel)")
    .command("list").description("the resource addresses in the stack's state, one per line")
    .option(...stackOpt).action(run(stateListCommand));
  program.command("version").description("print the sockform version")
    .option("--json", "as `terraform version -json`")
    .action(run((opts: Record<string, unknown>) => {
      console.log(versionText(Boolean(opts.json)));
      return Promise.resolve(0);
    }));
}

/**
 * Builds the commander program.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function planStackFile(): Promise<void> {
 *   await buildCli().parseAsync(["plan", "-s", "stack.ts"], { from: "user" });
 * }
 * ```
 */
export function buildCli(demo?: () => Promise<number>): Command {
  const program = new Command("sockform")
    .description("Declarative eBPF for the Linux transport layer: plan, apply, destroy, show.")
    .option("--state-root <dir>", "state root on bpffs (env SOCKFORM_STATE_ROOT)")
    .option("--no-color", "disable colour (NO_COLOR is respected too)")
    .version(versionText(false), "-v, --version", "print the sockform version")
    .exitOverride((err) => {
      Deno.exit(err.exitCode === 0 ? 0 : 1);
    });
  program.command("plan").description("show what apply would change, read from the live kernel")
    .option(...stackOpt).option("--json", "Terraform-shaped plan JSON")
    .option("--detailed-exitcode", "exit 0: no changes, 1: error, 2: changes present")
    .option("-o, --out <file>", "save the plan for `apply <file>`").option(...corruptOpt)
    .option(...hitlessOpt).option(...targetOpt).action(run(planCommand));
  program.command("apply [planOrStack]").description(
    "make the kernel match the stack, all or nothing",
  )
    .option(...stackOpt).option("--auto-approve", "do not ask").option(...corruptOpt)
    .option(...lockOpt).option(...hitlessOpt).option(...targetOpt).action(run(applyCommand));
  program.command("destroy").description("remove everything the stack owns")
    .option(...stackOpt).option("--auto-approve", "do not ask").option(...corruptOpt)
    .option(...lockOpt).option(...destroyTargetOpt).action(run(destroyCommand));
  addInspectCommands(program);
  addOpsCommands(program, run);
  if (demo) {
    program.command("demo").description("run the built-in demo in throwaway namespaces")
      .action(run(demo));
  }
  return program;
}
