/**
 * The local modules a file-source stack imports, and whether they changed.
 *
 * A git source gets a new checkout directory per commit, so every module of a new commit is
 * imported afresh. A file source cannot: a process imports each module URL once, so after an edit
 * to a module the stack file imports (say `./uplinks.ts`) the agent would keep planning the old
 * code while reporting "in-sync". The agent watches those files instead and, when one changes,
 * exits for its supervisor (systemd `Restart=on-failure`, a Kubernetes DaemonSet) to start it
 * again with the new code. An edit to the stack file itself is a new revision, loaded in-process.
 *
 * @module
 */
import { UserError } from "../engine/errors.ts";

/** The exit code of an agent that must restart to load changed modules (EX_TEMPFAIL). */
export const RESTART_EXIT_CODE = 75;

/** Files and the `mtime:size` each had when the stack was loaded. */
export interface ImportsWatch {
  stamps: Map<string, string>;
}

/** Raised by a loop that found an imported module changed since it was loaded. */
export class ImportsChanged extends UserError {
  constructor(readonly files: string[]) {
    super(
      `imported module(s) changed since the stack was loaded: ${files.join(", ")}; ` +
        `a running process cannot import a module twice, so the agent exits ` +
        `(code ${RESTART_EXIT_CODE}) for its supervisor to restart it with the new code`,
    );
  }
}

function stamp(path: string): string {
  try {
    const info = Deno.statSync(path);
    return `${info.mtime?.getTime() ?? 0}:${info.size}`;
  } catch {
    return "missing";
  }
}

/** The local files `deno info --json` lists in the module graph of `file`, `file` left out. */
async function localModules(file: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", file],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) return [];
  const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules?: { specifier: string; local?: string }[];
  };
  const entry = new URL(`file://${file}`).href;
  return (graph.modules ?? [])
    .filter((m) => m.specifier.startsWith("file://") && m.specifier !== entry && m.local)
    .map((m) => m.local!);
}

/**
 * Records the stamps of the local modules `file` imports.
 *
 * @example Watch a stack's imports, then ask what changed
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function changedSinceLoad(file: string): Promise<string[]> {
 *   const watch = await watchImports(file);
 *   return changedImports(watch);
 * }
 * ```
 */
export async function watchImports(file: string): Promise<ImportsWatch> {
  const files = await localModules(file);
  return { stamps: new Map(files.map((f) => [f, stamp(f)])) };
}

/** The watched files whose `mtime:size` differs from when they were recorded. */
export function changedImports(watch: ImportsWatch): string[] {
  return [...watch.stamps].filter(([file, was]) => stamp(file) !== was).map(([file]) => file);
}
