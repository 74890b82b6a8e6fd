/**
 * Loading a stack file: a module whose default export is a `Stack`.
 *
 * A stack file is user code run inside the CLI, so loading it is guarded: a
 * load that never finishes times out, a `Deno.exit()` during the load is
 * trapped and reported, anything thrown is described (even `throw {}`), and
 * the default export's names are checked before any of them becomes a path.
 *
 * @module
 */
import { UserError } from "../engine/errors.ts";
import { checkStackNames, type Stack } from "../engine/stack.ts";
import { whileLoadingStack } from "../engine/stack_file.ts";
import { collectingProblems, type Problem, throwProblems } from "../engine/diagnostics.ts";

/** How long a stack file may take to load unless SOCKFORM_STACK_TIMEOUT_MS says otherwise. */
export const DEFAULT_STACK_TIMEOUT_MS = 30_000;

/**
 * The stack file did not finish loading in time. Its pending work (timers,
 * reads) may keep the process alive, so the CLI exits after printing it.
 *
 * @example
 * ```ts
 * try { await loadStack("stack.ts"); } catch (e) { if (e instanceof StackLoadTimeout) Deno.exit(1); }
 * ```
 */
export class StackLoadTimeout extends UserError {
  override name = "StackLoadTimeout";
}

function looksLikeStack(value: unknown): value is Stack {
  const v = value as Stack | undefined;
  return typeof v?.name === "string" && Array.isArray(v?.resources) &&
    typeof v?.ordered === "function";
}

/** One line for anything a stack file may throw, `throw {}` and `throw undefined` included. */
export function describeThrown(e: unknown): string {
  if (e instanceof Error) {
    const first = e.message.split("\n")[0];
    return first ? first : `${e.name} (with no message)`;
  }
  const shown = Deno.inspect(e, { compact: true, breakLength: Infinity, depth: 2 });
  return `it threw ${shown.split("\n")[0]} (not an Error)`;
}

function timeoutMs(): number {
  const raw = Deno.env.get("SOCKFORM_STACK_TIMEOUT_MS");
  const n = raw === undefined ? NaN : Number(raw);
  return Number.isFinite(n) && n > 0 ? n : DEFAULT_STACK_TIMEOUT_MS;
}

/** Raised inside the stack file by the trapped `Deno.exit`, to stop its evaluation. */
class ExitDuringLoad extends Error {
  constructor(readonly code: number | undefined) {
    super(`Deno.exit(${code ?? ""}) called while loading`);
  }
}

/** Imports `url` with `Deno.exit` trapped and a deadline; returns the module. */
async function guardedImport(url: string, path: string): Promise<{ default?: unknown }> {
  const exit = Deno.exit;
  let exited: ExitDuringLoad | undefined;
  Deno.exit = ((code?: number) => {
    throw (exited = new ExitDuringLoad(code));
  }) as typeof Deno.exit;
  const ms = timeoutMs();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new StackLoadTimeout(
          `stack file ${path} did not finish loading within ${ms / 1000} s ` +
            "(a top-level await that never resolves?)",
        ),
      );
    }, ms);
  });
  try {
    return await Promise.race([import(url), deadline]);
  } finally {
    clearTimeout(timer);
    Deno.exit = exit;
    // Even when the stack file caught what the trap threw, the load is void.
    // deno-lint-ignore no-unsafe-finally
    if (exited) throw exitError(path, exited.code);
  }
}

function moduleUrl(abs: string, version: string | undefined): string {
  const url = new URL(`file://${abs}`);
  if (version !== undefined) url.searchParams.set("v", version);
  return url.href;
}

function exitError(path: string, code: number | undefined): UserError {
  return new UserError(
    `stack file ${path} called Deno.exit(${code ?? ""}) while loading ` +
      "(a stack file must only default-export a Stack)",
  );
}

/**
 * Imports `path` and returns its default-exported Stack. A new `version`
 * (e.g. the file's mtime) imports the file afresh in a long-running process
 * such as the reconcile agent; the same version reuses the loaded module.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function stackName(): Promise<string> {
 *   const stack = await loadStack("./stack.ts");
 *   return stack.name;
 * }
 * ```
 */
export async function loadStack(path: string, version?: string): Promise<Stack> {
  const abs = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  try {
    Deno.statSync(abs);
  } catch {
    throw new UserError(`stack file ${path} not found (pass -s FILE; the default is ./stack.ts)`);
  }
  let mod: { default?: unknown };
  let problems: Problem[];
  try {
    ({ value: mod, problems } = await collectingProblems(() =>
      whileLoadingStack(abs, () => guardedImport(moduleUrl(abs, version), path))
    ));
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`cannot load stack file ${path}: ${describeThrown(e)}`);
  }
  if (!looksLikeStack(mod.default)) {
    throw new UserError(
      `stack file ${path} must default-export a Stack (export default new Stack(...))`,
    );
  }
  checkStackNames(mod.default);
  // Every problem at once: the specs' (recorded while loading), then the stack's.
  throwProblems([...problems, ...mod.default.problems()]);
  return mod.default;
}
