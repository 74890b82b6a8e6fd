/**
 * The directory of the stack file being loaded, so a resource can resolve
 * paths the user wrote relative to their stack file (a PathManager's policy
 * module). The CLI's loader sets it while it imports the stack file; outside
 * a load (a stack built in code) it is the working directory.
 *
 * @module
 */

let loading: string | undefined;

/**
 * The directory relative paths in a spec are resolved against.
 *
 * @example Resolving a path the user wrote
 * ```ts
 * const base = stackFileDir(); // "/srv/stacks" while /srv/stacks/stack.ts loads
 * ```
 */
export function stackFileDir(): string {
  return loading ?? Deno.cwd();
}

/**
 * Runs `load` with `stackFile`'s directory as {@linkcode stackFileDir}.
 *
 * @example Importing a stack file
 * ```ts
 * const dir = await whileLoadingStack("/srv/stacks/stack.ts", () => Promise.resolve(stackFileDir()));
 * console.log(dir); // "/srv/stacks": what the stack file's module sees while it loads
 * ```
 */
export async function whileLoadingStack<T>(stackFile: string, load: () => Promise<T>): Promise<T> {
  const previous = loading;
  loading = stackFile.slice(0, stackFile.lastIndexOf("/")) || "/";
  try {
    return await load();
  } finally {
    loading = previous;
  }
}
