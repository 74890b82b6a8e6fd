/**
 * Turning zod failures into `SpecError`s whose paths read like the spec:
 * `bindings[2].prefix`.
 *
 * @module
 */
import type { z } from "../../deps.ts";
import { SpecError } from "../../engine/errors.ts";

/** Formats a zod path: `["bindings", 2, "prefix"]` → `bindings[2].prefix`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || "(spec)";
}

/**
 * Validates `input` against `schema` for resource `name`; throws `SpecError`
 * listing every issue with its field path.
 *
 * @example
 * ```ts
 * import { z } from "../../deps.ts";
 *
 * try {
 *   parseSpec(z.object({ port: z.number() }), { port: "x" }, "web");
 * } catch (e) {
 *   console.log((e as Error).message); // "web.port: Invalid input: expected number, received string"
 * }
 * ```
 */
export function parseSpec<S extends z.ZodType>(
  schema: S,
  input: unknown,
  name: string,
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new SpecError(name, result.error.issues.flatMap(readableIssues));
}

/**
 * One zod issue as spec issues. An unknown key is reported at its own path
 * (`bindings[0].extra`, not the enclosing object), and a bad record key
 * carries the key rule's message rather than zod's "Invalid key in record".
 */
function readableIssues(issue: z.core.$ZodIssue): { path: string; message: string }[] {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => ({
      path: formatPath([...issue.path, key]),
      message: "unknown field",
    }));
  }
  if (issue.code === "invalid_key" && issue.issues.length) {
    const message = issue.issues.map((i) => i.message).join("; ");
    return [{ path: formatPath(issue.path), message: `invalid key: ${message}` }];
  }
  return [{ path: formatPath(issue.path), message: issue.message }];
}
