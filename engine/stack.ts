/**
 * A stack: a named set of resources that one state directory owns.
 *
 * @module
 */
import type { Resource, StackRule, StackRuleProblem } from "./types.ts";
import { SpecError, UserError } from "./errors.ts";
import {
  collectingProblemsSync,
  isValid,
  type Problem,
  reportProblem,
  throwProblems,
} from "./diagnostics.ts";

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export type { StackRule } from "./types.ts";

/**
 * A rule allowing one resource of class `cls` per target (a netns, a cgroup):
 * the second one on the same target is refused at `field`, with `why` explaining.
 *
 * @example One sk_lookup program per netns, as SocketLookupRedirect declares it
 * ```ts
 * import { SocketLookupRedirect } from "../mod.ts";
 *
 * const rule: StackRule = onePerTarget(SocketLookupRedirect, "netns",
 *   (r) => r.spec.netns ?? "(caller's netns)", "one sk_lookup program per netns");
 * ```
 */
export function onePerTarget<R extends Resource>(
  cls: (abstract new (...args: never[]) => R) & { readonly kind: string },
  field: string,
  targetOf: (resource: R) => string,
  why: string,
): StackRule {
  const kind = cls.kind;
  return (resources) => {
    const seen = new Map<string, string>();
    const problems: StackRuleProblem[] = [];
    for (const r of resources) {
      if (!(r instanceof cls)) continue;
      const target = targetOf(r);
      const first = seen.get(target);
      if (first === undefined) seen.set(target, r.name);
      else {
        const message = `${target} already has ${kind} "${first}" in this stack (${why})`;
        problems.push({ resource: r.name, path: field, message });
      }
    }
    return problems;
  };
}

/**
 * Checks a stack's name and its resources' names against the strict pattern
 * they must match to become directory names under the state root. It reads
 * only plain properties, so it holds for duck-typed stacks and resources too
 * (objects that merely look like a `Stack` skip the constructor's check).
 *
 * @example Refusing a name that would leave the state root
 * ```ts
 * import { UserError } from "../mod.ts";
 *
 * try {
 *   checkStackNames({ name: "../../x", resources: [] });
 * } catch (e) {
 *   console.log(e instanceof UserError); // true
 * }
 * ```
 */
export function checkStackNames(stack: { name: unknown; resources: readonly unknown[] }): void {
  if (typeof stack.name !== "string" || !NAME.test(stack.name)) {
    throw new UserError(
      `stack name ${JSON.stringify(stack.name)} must match ${NAME} (it becomes a directory name)`,
    );
  }
  if (!Array.isArray(stack.resources)) {
    throw new UserError(`stack "${stack.name}": resources must be an array`);
  }
  stack.resources.forEach((r, i) => {
    const name = (r as { name?: unknown } | null)?.name;
    if (typeof name !== "string" || !NAME.test(name)) {
      const shown = typeof name === "string" ? name : `resources[${i}]`;
      throw new SpecError(shown, [{ path: "name", message: `must match ${NAME}` }]);
    }
  });
}

/**
 * Builds a stack in code the way the CLI loads a stack file: every resource's
 * spec problems and every stack-level problem (names, `dependsOn`, cycles,
 * one-per-target rules) are collected and thrown together, as one
 * `StackProblems` (or a `SpecError` when there is one), instead of the first
 * constructor's error alone.
 *
 * @example A stack built in a script, with all its problems at once
 * ```ts
 * import { defineStack, SocketLookupRedirect, Stack } from "../mod.ts";
 *
 * const stack = defineStack(() =>
 *   new Stack("edge", [
 *     new SocketLookupRedirect("web", { bindings: [], destinations: {} }),
 *   ])
 * );
 * ```
 */
export function defineStack(build: () => Stack): Stack {
  const { value: stack, problems } = collectingProblemsSync(build);
  throwProblems([...problems, ...stack.problems()]);
  return stack;
}

/**
 * A named collection of resources. A stack file default-exports one.
 *
 * @example A stack file
 * ```ts
 * import { SocketLookupRedirect, Stack } from "../mod.ts";
 *
 * export default new Stack("edge", [
 *   new SocketLookupRedirect("web", { bindings: [], destinations: {} }),
 * ]);
 * ```
 */
export class Stack {
  /** The declared resources, in declaration order. */
  readonly resources: Resource[] = [];

  /** `name` names the stack's state directory; `resources` are its resources. */
  constructor(readonly name: string, resources: Resource[] = []) {
    if (!NAME.test(name)) {
      throw new UserError(`stack name "${name}" must match ${NAME} (it becomes a directory name)`);
    }
    this.add(...resources);
  }

  /** Adds resources; names must be unique within the stack. */
  add(...resources: Resource[]): this {
    for (const r of resources) {
      // While a stack file loads, a bad name is recorded and the resource left out.
      if (!NAME.test(r.name)) {
        reportProblem(new SpecError(r.name, [{ path: "name", message: `must match ${NAME}` }]));
      } else if (this.resources.some((o) => o.name === r.name)) {
        const message = "is declared twice in the stack";
        reportProblem(new SpecError(r.name, [{ path: "name", message }]));
      } else this.resources.push(r);
    }
    return this;
  }

  /** Resources in dependency order (a resource follows everything it depends on). */
  ordered(): Resource[] {
    this.validate(); // references resolve and there is no cycle
    const byName = new Map(this.resources.map((r) => [r.name, r]));
    const out: Resource[] = [];
    const done = new Set<string>();
    const visit = (r: Resource) => {
      if (done.has(r.name)) return;
      done.add(r.name);
      for (const dep of dependencies(r, this.resources)) visit(byName.get(dep)!);
      out.push(r);
    };
    for (const r of this.resources) visit(r);
    return out;
  }

  /**
   * Checks references between resources and every kind's stack rules, and
   * throws every problem found at once. Resources whose spec did not validate
   * (see `collectingProblems`) are left out of the rules.
   */
  validate(): void {
    throwProblems(this.problems());
  }

  /** What `validate` would throw, as a list. */
  problems(): Problem[] {
    const names = new Set(this.resources.map((r) => r.name));
    const problems: Problem[] = [];
    for (const r of this.resources) {
      r.dependsOn.forEach((dep, i) => {
        if (names.has(dep)) return;
        const message = `no resource named "${dep}" in the stack`;
        const address = `${r.kind}.${r.name}`;
        problems.push({ resource: r.name, path: `dependsOn[${i}]`, message, address });
      });
    }
    problems.push(...dependencyCycles(this.resources));
    const valid = this.resources.filter(isValid);
    // Each kind's rules once, however many of its resources the stack holds.
    for (const rule of new Set(valid.flatMap((r) => r.stackRules ?? []))) {
      for (const problem of [rule(valid) ?? []].flat()) {
        const kind = valid.find((r) => r.name === problem.resource)?.kind;
        problems.push({ ...problem, ...(kind ? { address: `${kind}.${problem.resource}` } : {}) });
      }
    }
    return problems;
  }
}

/** What `r` follows: its `dependsOn` and what its kind implies (`Resource.follows`). */
function dependencies(r: Resource, resources: readonly Resource[]): Set<string> {
  return new Set([...r.dependsOn, ...(r.follows?.(resources) ?? [])]);
}

/**
 * Every `dependsOn` cycle, each once, reported on the resource where the walk
 * found it closing ("cycle: a → b → a"). References to undeclared names are
 * skipped here (they are their own problem).
 */
function dependencyCycles(resources: readonly Resource[]): Problem[] {
  const byName = new Map(resources.map((r) => [r.name, r]));
  const state = new Map<string, "visiting" | "done">();
  const problems: Problem[] = [];
  const visit = (r: Resource, trail: string[]) => {
    if (state.get(r.name) === "done") return;
    if (state.get(r.name) === "visiting") {
      const loop = [...trail.slice(trail.indexOf(r.name)), r.name];
      const message = `cycle: ${loop.join(" → ")}`;
      problems.push({
        resource: r.name,
        path: "dependsOn",
        message,
        address: `${r.kind}.${r.name}`,
      });
      return;
    }
    state.set(r.name, "visiting");
    for (const dep of dependencies(r, resources)) {
      const next = byName.get(dep);
      if (next) visit(next, [...trail, r.name]);
    }
    state.set(r.name, "done");
  };
  for (const r of resources) visit(r, []);
  return problems;
}
