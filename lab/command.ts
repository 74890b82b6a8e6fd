/**
 * Running lab commands (iproute2, tc, iperf3) as subprocesses, with their
 * stderr in the error when they fail.
 *
 * @module
 */

import { programCommand } from "../providers/system/programs.ts";

/** A command that exited non-zero: the argv, the exit code and its stderr. */
export class CommandError extends Error {
  override name = "CommandError";
  constructor(readonly argv: readonly string[], readonly code: number, readonly stderr: string) {
    super(`${argv.join(" ")}: exit ${code}${stderr ? `: ${stderr.trim()}` : ""}`);
  }
}

/**
 * Runs `argv` and returns its stdout; throws `CommandError` on a non-zero exit.
 *
 * @example Listing network namespaces
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function netnsNames(): Promise<string> {
 *   return await run(["ip", "netns", "list"]);
 * }
 * ```
 */
export async function run(argv: readonly string[]): Promise<string> {
  const out = await programCommand(argv, { stdout: "piped", stderr: "piped" }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  if (!out.success) throw new CommandError(argv, out.code, decode(out.stderr));
  return decode(out.stdout);
}

/**
 * The argv that runs `argv` inside the named netns (`ip netns exec`).
 *
 * @example iperf3 in the server netns
 * ```ts
 * const argv = inNetnsArgv("sf-srv-1a2b3c", ["iperf3", "-s", "-1"]);
 * ```
 */
export function inNetnsArgv(netnsName: string, argv: readonly string[]): string[] {
  return ["ip", "netns", "exec", netnsName, ...argv];
}

/**
 * A random lowercase hex suffix for names that must not collide between
 * tests running in parallel.
 *
 * @example A netns name
 * ```ts
 * const name = `sf-pm-${randomSuffix()}`;
 * ```
 */
export function randomSuffix(length = 6): string {
  const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil(length / 2)));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, length);
}
