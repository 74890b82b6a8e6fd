/**
 * Loading a stack file: a module whose default export is a `Stack`.
 *
 * @module
 */
import { UserError } from "../engine/errors.ts";
import type { Stack } from "../engine/stack.ts";

function looksLikeStack(value: unknown): value is Stack {
  const v = value as Stack | undefined;
  return typeof v?.name === "string" && Array.isArray(v?.resources) &&
    typeof v?.ordered === "function";
}

/**
 * Imports `path` and returns its default-exported Stack.
 *
 * @example
 * ```ts
 * const stack = await loadStack("./stack.ts");
 * ```
 */
export async function loadStack(path: string): Promise<Stack> {
  const abs = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  try {
    Deno.statSync(abs);
  } catch {
    throw new UserError(`stack file ${path} not found (pass -s FILE; the default is ./stack.ts)`);
  }
  let mod: { default?: unknown };
  try {
    mod = await import(new URL(`file://${abs}`).href);
  } catch (e) {
    if (e instanceof UserError) throw e;
    const msg = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new UserError(`cannot load stack file ${path}: ${msg}`);
  }
  if (!looksLikeStack(mod.default)) {
    throw new UserError(
      `stack file ${path} must default-export a Stack (export default new Stack(...))`,
    );
  }
  mod.default.validate();
  return mod.default;
}
