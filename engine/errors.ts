/**
 * User-facing errors. Each renders as one line naming the resource, the field
 * or step, and the cause; the CLI prints `message` and never a stack trace.
 *
 * @module
 */

/** Base class: anything the CLI should print as a single line and exit 1. */
export class UserError extends Error {
  override name = "UserError";
}

/**
 * A spec that does not validate. `issues` carry full field paths.
 *
 * @example Reporting a bad prefix
 * ```ts
 * throw new SpecError("web", [{ path: "bindings[2].prefix", message: "host bits set" }]);
 * ```
 */
export class SpecError extends UserError {
  override name = "SpecError";
  constructor(
    readonly resource: string,
    readonly issues: { path: string; message: string }[],
  ) {
    super(issues.map((i) => `${resource}.${i.path}: ${i.message}`).join("; "));
  }
}

/**
 * The kernel or the machine cannot satisfy a valid spec: a missing feature,
 * a listener that is not there, a cgroup that does not exist.
 *
 * @example A missing kernel feature
 * ```ts
 * throw new PlanError("legacy", "scope", "MptcpifyHook needs Linux ≥ 6.6 with MPTCP enabled");
 * ```
 */
export class PlanError extends UserError {
  override name = "PlanError";
  constructor(readonly resource: string, readonly field: string, cause: string) {
    super(field ? `${resource}.${field}: ${cause}` : `${resource}: ${cause}`);
  }
}

/**
 * A step failed during apply. `rolledBack` lists the undo actions that ran.
 *
 * @example
 * ```ts
 * throw new StepError("create SocketLookupRedirect.web", new Error("EPERM"), []);
 * ```
 */
export class StepError extends UserError {
  override name = "StepError";
  constructor(
    readonly step: string,
    readonly original: unknown,
    readonly rolledBack: string[],
    readonly rollbackFailures: string[] = [],
  ) {
    const cause = original instanceof Error ? original.message : String(original);
    const undo = rolledBack.length
      ? `; rolled back ${rolledBack.length} change(s)`
      : "; nothing to roll back";
    const broken = rollbackFailures.length
      ? `; rollback FAILED for: ${rollbackFailures.join(", ")} (run plan to see what remains)`
      : "";
    super(`step "${step}" failed: ${cause}${undo}${broken}`);
  }
}
