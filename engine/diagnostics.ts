/**
 * Collecting problems instead of stopping at the first, so `validate` and
 * `plan` report every bad field of every resource in one run. While a stack
 * file loads under {@linkcode collectingProblems}, a resource whose spec does
 * not validate records its issues and is marked invalid instead of throwing;
 * the stack's own checks then run over the valid resources.
 *
 * @module
 */
import { PlanError, SpecError, UserError } from "./errors.ts";

/** One problem: the resource's name, the field path (may be empty), and what is wrong. */
export interface Problem {
  /** The resource's name. */
  resource: string;
  /** The field path inside its spec, e.g. `bindings[0].prefix` (empty: the whole resource). */
  path: string;
  /** What is wrong. */
  message: string;
  /** The resource's address, `Kind.name`, when known. */
  address?: string;
}

/** One line for a problem: `resource.path: message`. */
function line(p: Problem): string {
  return p.path ? `${p.resource}.${p.path}: ${p.message}` : `${p.resource}: ${p.message}`;
}

/**
 * Several problems, possibly in several resources; its message has one line each.
 *
 * @example Two problems at once
 * ```ts
 * const e = new StackProblems([
 *   { resource: "web", path: "netns", message: "no such netns" },
 *   { resource: "tune", path: "cgroup", message: "no such cgroup" },
 * ]);
 * console.log(e.message); // one line per problem
 * ```
 */
export class StackProblems extends UserError {
  /** The error's class name, as `Error.name`. */
  override name = "StackProblems";
  /** `problems` in the order they were found. */
  constructor(readonly problems: Problem[]) {
    super(problems.map(line).join("\n"));
  }
}

/**
 * The problems an error stands for, or null for an error that is not about
 * the stack's content (a crash, a lock held elsewhere).
 *
 * @example A spec error's issues
 * ```ts
 * import { SpecError } from "../mod.ts";
 *
 * problemsOf(new SpecError("web", [{ path: "netns", message: "bad" }])); // one problem
 * ```
 */
export function problemsOf(e: unknown, address?: string): Problem[] | null {
  const known = address ?? (e instanceof Error ? addresses.get(e) : undefined);
  const at = known ? { address: known } : {};
  if (e instanceof StackProblems) return e.problems;
  if (e instanceof SpecError) return e.issues.map((i) => ({ resource: e.resource, ...i, ...at }));
  if (e instanceof PlanError) {
    return [{ resource: e.resource, path: e.field, message: e.reason, ...at }];
  }
  return null;
}

/**
 * Throws nothing for no problems, a `SpecError` for one, else a `StackProblems`.
 *
 * @example
 * ```ts
 * throwProblems([]); // returns
 * ```
 */
export function throwProblems(problems: Problem[]): void {
  if (!problems.length) return;
  const [only] = problems;
  if (problems.length > 1) throw new StackProblems(problems);
  const e = new SpecError(only.resource, [{ path: only.path, message: only.message }]);
  if (only.address) addresses.set(e, only.address);
  throw e;
}

let collecting: Problem[] | undefined;
/** The address of the resource an error was raised for, where the thrower did not know it. */
const addresses = new WeakMap<Error, string>();
const invalid = new WeakSet<object>();

/** A resource's failure while planning: what it threw and its problems. */
export interface Failure {
  /** What was thrown. */
  error: unknown;
  /** The problems it stands for. */
  problems: Problem[];
}

/**
 * `fn`'s result, or undefined with the failure (addressed `address`) added to
 * `failed` when it failed on the stack's content; other errors propagate.
 *
 * @example Planning each resource
 * ```ts
 * const failed: Failure[] = [];
 * const step = await orFailure(failed, "TcpTuning.t", () => Promise.resolve("planned"));
 * throwFailures(failed); // nothing failed: returns
 * ```
 */
export async function orFailure<T>(
  failed: Failure[],
  address: string,
  fn: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await fn();
  } catch (error) {
    const problems = problemsOf(error, address);
    if (!problems) throw error;
    if (error instanceof Error) addresses.set(error, address);
    failed.push({ error, problems });
    return undefined;
  }
}

/**
 * Throws nothing for no failures, the error itself for one (its class kept),
 * else a `StackProblems` with every failure's problems.
 *
 * @example
 * ```ts
 * throwFailures([]); // returns
 * ```
 */
export function throwFailures(failed: Failure[]): void {
  if (failed.length === 1) throw failed[0].error;
  if (failed.length) throw new StackProblems(failed.flatMap((f) => f.problems));
}

/**
 * Runs `fn` collecting the spec problems resources report through
 * {@linkcode checkedSpec} and {@linkcode reportProblem} instead of throwing them.
 *
 * @example Loading a stack file
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function load(url: string) {
 *   const { value, problems } = await collectingProblems(() => import(url));
 *   return problems.length ? problems : value.default;
 * }
 * ```
 */
export async function collectingProblems<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; problems: Problem[] }> {
  const previous = collecting;
  const problems: Problem[] = [];
  collecting = problems;
  try {
    return { value: await fn(), problems };
  } finally {
    collecting = previous;
  }
}

/**
 * {@linkcode collectingProblems} for synchronous work, such as building a
 * stack in code.
 *
 * @example Every spec problem of a stack built in code
 * ```ts
 * import { Stack } from "../mod.ts";
 *
 * const { problems } = collectingProblemsSync(() => new Stack("edge", []));
 * ```
 */
export function collectingProblemsSync<T>(fn: () => T): { value: T; problems: Problem[] } {
  const previous = collecting;
  const problems: Problem[] = [];
  collecting = problems;
  try {
    return { value: fn(), problems };
  } finally {
    collecting = previous;
  }
}

/**
 * Records `e`'s problems when collecting (and returns true), else throws it.
 *
 * @example A duplicate name while a stack file loads
 * ```ts
 * import { SpecError } from "../mod.ts";
 *
 * const { problems } = await collectingProblems(async () =>
 *   reportProblem(new SpecError("web", [{ path: "name", message: "is declared twice" }]))
 * );
 * console.log(problems.length); // 1
 * ```
 */
export function reportProblem(e: SpecError, address?: string): true {
  if (!collecting) throw e;
  collecting.push(...problemsOf(e, address)!);
  return true;
}

/**
 * A resource constructor's spec check: returns what `check` returns; when
 * collecting, a `SpecError` is recorded, `owner` marked invalid and `raw`
 * returned in place of the spec.
 *
 * @example In a resource's constructor
 * ```ts
 * import { SpecError } from "../mod.ts";
 *
 * function port(raw: unknown): number {
 *   if (typeof raw === "number") return raw;
 *   throw new SpecError("web", [{ path: "port", message: "must be a number" }]);
 * }
 * const owner = {};
 * const { problems } = await collectingProblems(async () => checkedSpec(owner, "80", () => port("80")));
 * console.log(problems.length, isValid(owner)); // 1 false
 * ```
 */
export function checkedSpec<T>(owner: object, raw: unknown, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (!(e instanceof SpecError) || !collecting) throw e;
    const kind = (owner as { kind?: unknown }).kind;
    reportProblem(e, typeof kind === "string" ? `${kind}.${e.resource}` : undefined);
    invalid.add(owner);
    return raw as T;
  }
}

/**
 * False for a resource whose spec did not validate (it was built while collecting).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Resource, Stack } from "../mod.ts";
 *
 * function checkable(stack: Stack): readonly Resource[] {
 *   return stack.resources.filter(isValid);
 * }
 * ```
 */
export function isValid(resource: object): boolean {
  return !invalid.has(resource);
}
