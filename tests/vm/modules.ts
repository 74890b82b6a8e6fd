/**
 * Kernel module dependency resolution for the VM harness, without depmod: names are found
 * in the package's module tree, dependencies come from each module's `depends=` modinfo
 * field, and modules listed in `modules.builtin` need no loading.
 *
 * @module
 */
import { exec } from "./exec.ts";

/** A module name as the kernel compares it: dashes and underscores are the same. */
export function normalizeModuleName(name: string): string {
  return name.replaceAll("-", "_");
}

/**
 * Orders modules so each comes after its dependencies (depth first, stable, no repeats).
 * `depsOf` returns a module's direct dependencies, or `"builtin"` when the kernel has it
 * built in (it and its dependencies are then skipped).
 *
 * @example 9p needs 9pnet, which needs netfs
 * ```ts
 * const deps: Record<string, string[]> = { "9p": ["9pnet", "netfs"], "9pnet": ["netfs"], netfs: [] };
 * const order = await topoOrder(["9p"], (m) => Promise.resolve(deps[m]));
 * // order: ["netfs", "9pnet", "9p"]
 * ```
 */
export async function topoOrder(
  roots: readonly string[],
  depsOf: (name: string) => Promise<string[] | "builtin">,
): Promise<string[]> {
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = async (name: string, path: string[]): Promise<void> => {
    if (path.includes(name)) {
      throw new Error(`module dependency cycle: ${[...path, name].join(" → ")}`);
    }
    if (seen.has(name)) return;
    seen.add(name);
    const deps = await depsOf(name);
    if (deps === "builtin") return;
    for (const dep of deps) await visit(normalizeModuleName(dep), [...path, name]);
    order.push(name);
  };
  for (const root of roots) await visit(normalizeModuleName(root), []);
  return order;
}

/** Maps each module name under `dir` to its file (`.ko`, `.ko.xz`). */
function indexModules(dir: string, index = new Map<string, string>()): Map<string, string> {
  for (const entry of Deno.readDirSync(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) indexModules(path, index);
    const m = entry.name.match(/^(.+)\.ko(\.xz|\.zst|\.gz)?$/);
    if (entry.isFile && m) index.set(normalizeModuleName(m[1]), path);
  }
  return index;
}

function builtinModules(modRoot: string): Set<string> {
  let text = "";
  try {
    text = Deno.readTextFileSync(`${modRoot}/modules.builtin`);
  } catch {
    // Old packages may lack the list; every module then has to be found as a file.
  }
  const names = text.split("\n").map((l) => l.match(/([^/]+)\.ko$/)?.[1]).filter(Boolean);
  return new Set(names.map((n) => normalizeModuleName(n!)));
}

/**
 * Resolves `requested` modules in the extracted tree `modRoot` (`.../lib/modules/<release>`)
 * into load order. `materialize(name, file)` must write a loadable, uncompressed `.ko` and
 * return its path; its `depends=` field supplies the next dependencies.
 * Throws when a module is neither a file nor built in.
 *
 * @example Resolve the 9p stack
 * ```ts
 * const order = await resolveLoadOrder(["9p"], "/tmp/k/usr/lib/modules/6.12.1-amd64",
 *   (name, file) => Promise.resolve(file));
 * ```
 */
export async function resolveLoadOrder(
  requested: readonly string[],
  modRoot: string,
  materialize: (name: string, file: string) => Promise<string>,
): Promise<string[]> {
  const files = indexModules(`${modRoot}/kernel`);
  const builtin = builtinModules(modRoot);
  return await topoOrder(requested, async (name) => {
    if (builtin.has(name)) return "builtin";
    const file = files.get(name);
    if (!file) throw new Error(`kernel module ${name} is neither built in nor in the package`);
    const ko = await materialize(name, file);
    const depends = (await exec("modinfo", ["-F", "depends", ko])).trim();
    return depends ? depends.split(",") : [];
  });
}
