/**
 * Running the sockform CLI as a black box: stack files written to a temp dir
 * (importing mod.ts by absolute path) and `deno run -A main.ts …` subprocesses.
 *
 * @module
 */
import assert from "node:assert/strict";
import { listLinks } from "../../providers/libbpf/info.ts";
import { cliInProcess, runCliInProcess } from "./in_process_cli.ts";

const REPO = new URL("../../", import.meta.url).pathname;

/** What one CLI run produced. */
export interface CliResult {
  code: number;
  /** Set when the process died of a signal (e.g. SIGKILL from a fault). */
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/** Options for one CLI run. */
export interface CliOptions {
  env?: Record<string, string>;
  /** Bytes fed to stdin (default: none, stdin is /dev/null: never a TTY). */
  stdin?: string;
}

/**
 * Runs `deno run -A main.ts <args>` from the repository root, without colour.
 *
 * @example
 * ```ts
 * const r = await runCli(["plan", "-s", file, "--state-root", root, "--detailed-exitcode"]);
 * ```
 */
export async function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  // In the VM tier, a run that needs no environment or stdin of its own stays in-process.
  if (cliInProcess() && !opts.env && opts.stdin === undefined) {
    return { ...(await runCliInProcess(args)), signal: null };
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO}main.ts`, ...args],
    cwd: REPO,
    env: { NO_COLOR: "1", ...opts.env },
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** One SocketLookupRedirect for a stack file. */
export interface StackResource {
  name: string;
  spec: unknown;
}

/**
 * Writes a stack file that default-exports `new Stack(name, [...])` of
 * SocketLookupRedirect resources, or the raw `body` when given. Returns its path.
 *
 * @example
 * ```ts
 * const file = writeStackFile(dir, "edge", [{ name: "web", spec }]);
 * ```
 */
export function writeStackFile(
  dir: string,
  stackName: string,
  resources: StackResource[],
  file = "stack.ts",
): string {
  const items = resources.map((r) =>
    `  new SocketLookupRedirect(${JSON.stringify(r.name)}, ${JSON.stringify(r.spec)}),`
  );
  const text = [
    `import { SocketLookupRedirect, Stack } from "${REPO}mod.ts";`,
    `export default new Stack(${JSON.stringify(stackName)}, [`,
    ...items,
    `]);`,
    "",
  ].join("\n");
  const path = `${dir}/${file}`;
  Deno.writeTextFileSync(path, text);
  return path;
}

/** sk_lookup (netns) links attached to the netns with inode `ino`. */
export function linksOnNetns(ino: number): number {
  return listLinks().filter((l) => l.netnsIno === ino).length;
}

/**
 * Waits until `check` holds. The kernel frees closed links and programs from
 * a workqueue, so "gone" is observed a moment after the last fd closes. The
 * generous deadline only bounds a failing test; nothing is timed.
 */
export async function eventually(what: string, check: () => boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`still not true after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The entries of a directory, or null when it does not exist. */
export function dirEntries(path: string): string[] | null {
  try {
    return [...Deno.readDirSync(path)].map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/**
 * Asserts the CLI exit code, showing its output when it differs.
 *
 * @example
 * ```ts
 * expectCode(await runCli(["plan", "-s", file]), 0, "plan");
 * ```
 */
export function expectCode(r: CliResult, code: number, what: string): void {
  assert.equal(
    r.code,
    code,
    `${what}: exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
  );
}
