/**
 * Turning zod failures into `SpecError`s whose paths read like the spec:
 * `bindings[2].prefix`.
 *
 * @module
 */
import type { z } from "zod";
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
 * const spec = parseSpec(z.object({ port: z.number() }), { port: "x" }, "web");
 * // SpecError: web.port: Invalid input: expected number, received string
 * ```
 */
export function parseSpec<S extends z.ZodType>(
  schema: S,
  input: unknown,
  name: string,
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new SpecError(
    name,
    result.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
  );
}
