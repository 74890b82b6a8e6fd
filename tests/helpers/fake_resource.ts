/**
 * FakeThing: a tiny resource kind for engine tests on the fake store
 * (engine/testing/fake.ts). Its spec is plain data checked by hand (no zod), and its
 * pure diff yields one Change per differing field:
 * - `label` updates in place and is hitless,
 * - `size` updates in place but is not hitless,
 * - `flavor` can only change by replacing the resource.
 *
 * @module
 */
import type { Change, Observed, Resource } from "../../engine/types.ts";
import { SpecError } from "../../engine/errors.ts";
import { canonicalJson } from "../../engine/hash.ts";

/** The spec of a FakeThing. */
export interface FakeThingSpec {
  size: number;
  label?: string;
  flavor?: string;
}

/** Options beyond the spec. `kind` lets a test pretend a resource changed kind. */
export interface FakeThingOptions {
  dependsOn?: string[];
  kind?: string;
}

const FIELDS = ["size", "label", "flavor"] as const;

const RULES: Record<(typeof FIELDS)[number], { hitless: boolean; forcesReplace: boolean }> = {
  size: { hitless: false, forcesReplace: false },
  label: { hitless: true, forcesReplace: false },
  flavor: { hitless: false, forcesReplace: true },
};

/**
 * A declared FakeThing.
 *
 * @example Two things, one after the other
 * ```ts
 * const stack = new Stack("demo", [
 *   new FakeThing("a", { size: 1 }),
 *   new FakeThing("b", { size: 2, flavor: "x" }, { dependsOn: ["a"] }),
 * ]);
 * ```
 */
export class FakeThing implements Resource<FakeThingSpec, FakeThingSpec, FakeThingSpec | null> {
  readonly kind: string;
  readonly spec: FakeThingSpec;
  readonly dependsOn: readonly string[];

  constructor(readonly name: string, spec: FakeThingSpec, opts: FakeThingOptions = {}) {
    if (!Number.isInteger(spec.size) || spec.size < 0) {
      throw new SpecError(name, [{ path: "size", message: "must be a non-negative integer" }]);
    }
    this.kind = opts.kind ?? "FakeThing";
    this.spec = { ...spec };
    this.dependsOn = opts.dependsOn ?? [];
  }

  /** Pure: one Change per field where the kernel's state differs from `desired`. */
  diff(observed: Observed<FakeThingSpec | null> | null, desired: FakeThingSpec): Change[] {
    const before: Partial<FakeThingSpec> = observed?.state ?? {};
    const changes: Change[] = [];
    for (const field of FIELDS) {
      if (canonicalJson(before[field]) === canonicalJson(desired[field])) continue;
      const rule = RULES[field];
      const existing = Boolean(observed?.state);
      changes.push({
        path: field,
        before: before[field],
        after: desired[field],
        reason: before[field] === undefined ? `${field} not set in the kernel` : `${field} differs`,
        // Creating something new drops nothing; changing what exists follows the field's rule.
        hitless: existing ? rule.hitless : true,
        ...(rule.forcesReplace && existing ? { forcesReplace: true } : {}),
      });
    }
    return changes;
  }
}
