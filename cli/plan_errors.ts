/**
 * The diagnostics a failed `plan --json` prints in its `errored` document.
 *
 * @module
 */
import type { DiagnosticJson } from "../engine/render_json.ts";
import { SpecError } from "../engine/errors.ts";
import { permissionLine } from "./permission.ts";

/**
 * An error as Terraform-style diagnostics: one per spec issue for a spec
 * error, else one whose summary is the error's first line.
 *
 * @example An error as one diagnostic
 * ```ts
 * errorDiagnostics(new Error("boom")); // [{ severity: "error", summary: "boom", detail: "" }]
 * ```
 */
export function errorDiagnostics(e: unknown): DiagnosticJson[] {
  if (e instanceof SpecError) {
    return e.issues.map((i) => ({
      severity: "error",
      summary: `${e.resource}.${i.path}: ${i.message}`,
      detail: "",
    }));
  }
  const text = permissionLine(e) ?? (e instanceof Error ? e.message : String(e));
  const [summary, ...rest] = text.split("\n");
  return [{ severity: "error", summary, detail: rest.join("\n").trim() }];
}
