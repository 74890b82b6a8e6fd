/**
 * One way to run a host tool for the VM harness: capture its output and turn a
 * non-zero exit into an error that names the command and quotes its stderr.
 *
 * @module
 */

import { programCommand } from "../../providers/system/programs.ts";

/** Options for {@linkcode exec}. */
export interface ExecOptions {
  /** Working directory of the child. */
  cwd?: string;
  /** Extra environment variables for the child. */
  env?: Record<string, string>;
  /** Bytes written to the child's stdin. */
  stdin?: Uint8Array;
}

/**
 * Runs `cmd args...` to completion and returns its stdout as text.
 * Throws an `Error` naming the command, its exit code and stderr when it fails.
 *
 * @example Ask apt-cache for a package's dependencies
 * ```ts
 * const text = await exec("apt-cache", ["depends", "linux-image-amd64"]);
 * ```
 */
export async function exec(cmd: string, args: string[], opts: ExecOptions = {}): Promise<string> {
  const out = await execBytes(cmd, args, opts);
  return new TextDecoder().decode(out);
}

/**
 * Like {@linkcode exec} but returns stdout as bytes (for binary output such as `xz -dc`).
 *
 * @example Decompress a kernel module
 * ```ts
 * const ko = await execBytes("xz", ["-dc", "veth.ko.xz"]);
 * ```
 */
export async function execBytes(
  cmd: string,
  args: string[],
  opts: ExecOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  const child = programCommand([cmd, ...args], {
    cwd: opts.cwd,
    env: opts.env,
    stdin: opts.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(opts.stdin);
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  if (code !== 0) {
    const why = new TextDecoder().decode(stderr).trim().split("\n").slice(-5).join("\n");
    throw new Error(`${cmd} ${args.join(" ")} exited with ${code}: ${why}`);
  }
  return stdout;
}
