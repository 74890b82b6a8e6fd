/**
 * Entering a network namespace for the duration of one synchronous call.
 *
 * setns(2) changes only the calling thread, and Deno runs FFI and `*Sync` file
 * calls on the JS thread, so the callback must be synchronous: async Deno ops
 * may run on other threads that are still in the original namespace.
 *
 * @module
 */
import { check, CLONE_NEWNET, cstr, libc, O } from "./libc/ffi.ts";
import { PlanError } from "../engine/errors.ts";

/** Opens a netns file (e.g. `/run/netns/lab`) and returns its fd. Caller closes. */
export function openNetns(path: string): number {
  return check(`open(${path})`, libc().open(cstr(path), O.RDONLY | O.CLOEXEC, 0));
}

/** The inode number that identifies a netns, as link info and `ip netns` report it. */
export function netnsInode(path: string): number {
  return Number(Deno.statSync(path).ino);
}

/** The netns of this thread; what a spec with no `netns` means. */
export const SELF_NETNS = "/proc/thread-self/ns/net";

/**
 * Checks a spec's netns path exists and is a namespace, for plan-time errors.
 *
 * @example
 * ```ts
 * assertNetnsExists("web", "netns", "/run/netns/lab");
 * ```
 */
export function assertNetnsExists(resource: string, field: string, path: string): void {
  try {
    const fd = openNetns(path);
    libc().close(fd);
  } catch {
    throw new PlanError(resource, field, `network namespace ${path} does not exist`);
  }
}

/**
 * Runs `fn` with this thread inside the netns at `path`, then switches back,
 * even when `fn` throws.
 *
 * @example Reading a netns's /proc/net/tcp
 * ```ts
 * const text = inNetns("/run/netns/lab", () => Deno.readTextFileSync("/proc/thread-self/net/tcp"));
 * ```
 */
export function inNetns<T>(path: string | undefined, fn: () => T): T {
  if (!path || path === SELF_NETNS) return fn();
  const original = openNetns(SELF_NETNS);
  const target = openNetns(path);
  try {
    check("setns", libc().setns(target, CLONE_NEWNET));
    try {
      return fn();
    } finally {
      check("setns(back)", libc().setns(original, CLONE_NEWNET));
    }
  } finally {
    libc().close(target);
    libc().close(original);
  }
}
