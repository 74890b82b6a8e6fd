/**
 * Waiting for the kernel to let go of programs after a detach.
 *
 * Removing a link's pin, or closing its last fd, returns before the program
 * is off its hook: bpffs drops a pin's reference after an RCU grace period,
 * and a link freed from there is released from a workqueue. The link's id
 * disappears first, the detach comes after. A program's id disappears only
 * once its last link has been released, so "the program id is gone" is the
 * honest signal that the hook no longer runs. Deletes and rollbacks wait for
 * it, so that when `apply` or `destroy` returns the kernel really is as planned.
 *
 * @module
 */
import { libbpf } from "./ffi.ts";
import { linkInfo, progInfo } from "./info.ts";
import { openPinQuiet } from "./pins.ts";
import { libc } from "../libc/ffi.ts";

/** How long a release may take before we stop waiting (it is milliseconds in practice). */
const RELEASE_TIMEOUT_MS = 3_000;
const POLL_MS = 5;

/**
 * The id of the program an open bpf fd runs: a link's program, a program's
 * own id; null for maps and anything else.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function linkProgram(linkFd: number): number | null {
 *   return programIdOf(linkFd); // 1234
 * }
 * ```
 */
export function programIdOf(fd: number): number | null {
  let target: string;
  try {
    target = Deno.readLinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
  if (target === "anon_inode:bpf-link") return linkInfo(fd).progId || null;
  if (target === "anon_inode:bpf-prog") return progInfo(fd).id;
  return null;
}

/**
 * The program ids behind the pins in `dir` (links and programs), read
 * before the directory goes away.
 */
export function programIdsInDir(dir: string): number[] {
  const ids = new Set<number>();
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return [];
  }
  for (const entry of entries) {
    const fd = openPinQuiet(`${dir}/${entry.name}`, "any");
    if (fd === null) continue;
    try {
      const id = programIdOf(fd);
      if (id !== null) ids.add(id);
    } finally {
      libc().close(fd);
    }
  }
  return [...ids];
}

/** True while the kernel still has program `id` loaded. */
export function programAlive(id: number): boolean {
  const fd = libbpf().bpf_prog_get_fd_by_id(id);
  if (fd < 0) return false;
  libc().close(fd);
  return true;
}

/**
 * Waits until none of `ids` names a live program, polling; returns the ids
 * still alive after the timeout (held by someone else), normally none.
 *
 * @example After the last reference to a link is dropped
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function afterDelete(): Promise<void> {
 *   const lingering = await awaitProgramsFreed([1234]);
 * }
 * ```
 */
export async function awaitProgramsFreed(
  ids: readonly number[],
  timeoutMs = RELEASE_TIMEOUT_MS,
): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = ids.filter(programAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    alive = alive.filter(programAlive);
  }
  return alive;
}

/**
 * Removes a directory of pins and waits until the programs its links ran are
 * released, so the hooks are really off when this returns.
 *
 * @example A create step's undo
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Transaction } from "../../engine/types.ts";
 *
 * function undoCreate(tx: Transaction, dir: string): void {
 *   tx.onRollback(`remove ${dir}`, () => removePinsAndAwaitRelease(dir));
 * }
 * ```
 */
export async function removePinsAndAwaitRelease(dir: string): Promise<void> {
  const ids = programIdsInDir(dir);
  Deno.removeSync(dir, { recursive: true });
  await awaitProgramsFreed(ids);
}
