/**
 * User-facing errors. Each renders as one line naming the resource, the field
 * or step, and the cause; the CLI prints `message` and never a stack trace.
 *
 * @module
 */

/** Base class: anything the CLI should print as a single line and exit 1. */
export class UserError extends Error {
  /** The error's class name, as `Error.name`. */
  override name = "UserError";
}

/**
 * A spec that does not validate. `issues` carry full field paths.
 *
 * @example Reporting a bad prefix
 * ```ts
 * const e = new SpecError("web", [{ path: "bindings[2].prefix", message: "host bits set" }]);
 * console.log(e.message); // "web.bindings[2].prefix: host bits set"
 * ```
 */
export class SpecError extends UserError {
  /** The error's class name, as `Error.name`. */
  override name = "SpecError";
  /** `resource` is the resource's name; each issue names a field path and what is wrong with it. */
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
 * const e = new PlanError("legacy", "scope", "MptcpifyHook needs Linux ≥ 6.6 with MPTCP enabled");
 * console.log(e.message); // "legacy.scope: MptcpifyHook needs Linux ≥ 6.6 with MPTCP enabled"
 * ```
 */
export class PlanError extends UserError {
  /** The error's class name, as `Error.name`. */
  override name = "PlanError";
  /** `resource` and `field` say where (field may be empty); `reason` says what the kernel or machine lacks. */
  constructor(readonly resource: string, readonly field: string, readonly reason: string) {
    super(field ? `${resource}.${field}: ${reason}` : `${resource}: ${reason}`);
  }
}

/**
 * A step failed during apply. `rolledBack` lists the undo actions that ran.
 *
 * @example
 * ```ts
 * const e = new StepError("create SocketLookupRedirect.web", new Error("EPERM"), []);
 * console.log(e.message); // 'step "create SocketLookupRedirect.web" failed: EPERM; nothing to roll back'
 * ```
 */
export class StepError extends UserError {
  /** The error's class name, as `Error.name`. */
  override name = "StepError";
  /** The failed step's address, its error, the undo actions that ran and those that failed. */
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
