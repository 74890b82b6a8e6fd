/**
 * The diagnostics a failed `plan --json` prints in its `errored` document,
 * and `validate --json`'s document.
 *
 * @module
 */
import type { DiagnosticJson } from "../engine/render_json.ts";
import { type Problem, problemsOf } from "../engine/diagnostics.ts";
import { permissionLine } from "./permission.ts";

/**
 * An error as Terraform-style diagnostics: one per problem (with its
 * resource's address and field path) for an error about the stack's
 * content, else one whose summary is the error's first line.
 *
 * @example An error as one diagnostic
 * ```ts
 * errorDiagnostics(new Error("boom")); // [{ severity: "error", summary: "boom", detail: "" }]
 * ```
 */
export function errorDiagnostics(e: unknown): DiagnosticJson[] {
  const problems = problemsOf(e);
  if (problems) return problems.map(problemDiagnostic);
  const text = permissionLine(e) ?? (e instanceof Error ? e.message : String(e));
  const [summary, ...rest] = text.split("\n");
  return [{ severity: "error", summary, detail: rest.join("\n").trim() }];
}

function problemDiagnostic(p: Problem): DiagnosticJson {
  const where = p.path ? `${p.resource}.${p.path}` : p.resource;
  const detail = p.path
    ? `Field "${p.path}" of resource "${p.resource}": ${p.message}.`
    : `Resource "${p.resource}": ${p.message}.`;
  return {
    severity: "error",
    summary: `${where}: ${p.message}`,
    detail,
    ...(p.address ? { address: p.address } : {}),
    ...(p.path ? { path: p.path } : {}),
  };
}

/** Terraform's `validate -json` document. */
export interface ValidateJson {
  /** "1.0", as Terraform's. */
  format_version: string;
  /** True when there is no error. */
  valid: boolean;
  /** How many diagnostics are errors. */
  error_count: number;
  /** How many diagnostics are warnings. */
  warning_count: number;
  /** Every problem found. */
  diagnostics: DiagnosticJson[];
}

/**
 * The `validate --json` document for a stack that loaded (`error` undefined)
 * or for what loading it threw.
 *
 * @example A valid stack
 * ```ts
 * validateJson(undefined); // { format_version: "1.0", valid: true, error_count: 0, … }
 * ```
 */
export function validateJson(error: unknown): ValidateJson {
  const diagnostics = error === undefined ? [] : errorDiagnostics(error);
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  return {
    format_version: "1.0",
    valid: errors === 0,
    error_count: errors,
    warning_count: diagnostics.length - errors,
    diagnostics,
  };
}
