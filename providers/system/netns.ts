/**
 * Entering a network namespace for the duration of one synchronous call.
 *
 * setns(2) changes only the calling thread, and Deno runs FFI and `*Sync` file
 * calls on the JS thread, so the callback must be synchronous: async Deno ops
 * may run on other threads that are still in the original namespace.
 *
 * providers/system/ is the system-access half of the providers: what sockform
 * reads from or sets on the machine without owning it as state. Network
 * namespaces (here), sysctls, the socket tables and socket facts, interfaces,
 * cgroups, BTF and the kernel feature probes, the errno funnel's error, and
 * the registry of external programs (`programs.ts`). The pins and metadata
 * that are sockform's state are providers/state/.
 *
 * @module
 */
import { check, CLONE_NEWNET, cstr, errno, libc, O } from "../libc/ffi.ts";
import { PlanError } from "../../engine/errors.ts";
import { errnoName } from "./errno.ts";

/** open(2) flag: never wait, e.g. for a FIFO's writer. */
const O_NONBLOCK = 0o4000;
/** statfs f_type of nsfs, where every namespace file lives. */
const NSFS_MAGIC = 0x6e736673n;
/** ioctl(2) on a namespace fd: its CLONE_NEW* type. */
const NS_GET_NSTYPE = 0xb703n;
const NS_TYPES: Record<number, string> = {
  0x00020000: "mount namespace",
  0x02000000: "cgroup namespace",
  0x04000000: "uts namespace",
  0x08000000: "ipc namespace",
  0x10000000: "user namespace",
  0x20000000: "pid namespace",
  0x00000080: "time namespace",
};

/**
 * Opens a netns file (e.g. `/run/netns/lab`) and returns its fd. Caller closes.
 * O_NONBLOCK: a FIFO put at the path must not hang the caller (and its lock).
 */
export function openNetns(path: string): number {
  return check(`open(${path})`, libc().open(cstr(path), O.RDONLY | O.CLOEXEC | O_NONBLOCK, 0));
}

/** The inode number that identifies a netns, as link info and `ip netns` report it. */
export function netnsInode(path: string): number {
  return Number(Deno.statSync(path).ino);
}

/**
 * The process's netns: what a spec without `netns` means, for inode lookups
 * and listener searches (this thread may be inside another netns meanwhile).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function inodeOf(spec: { netns?: string }): number {
 *   return netnsInode(spec.netns ?? CALLER_NETNS);
 * }
 * ```
 */
export const CALLER_NETNS = "/proc/self/ns/net";

/** The netns of this thread; what a spec with no `netns` means. */
export const SELF_NETNS = "/proc/thread-self/ns/net";

/**
 * Checks a spec's netns path names a network namespace, for plan-time errors
 * that name `resource.field`. Nothing here blocks: the file's type and file
 * system are read before it is opened, and the open is non-blocking.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function check(): void {
 *   assertNetnsExists("web", "netns", "/run/netns/lab");
 *   // "/tmp" throws: web.netns: /tmp is not a network namespace (expected a file like …)
 * }
 * ```
 */
export function assertNetnsExists(resource: string, field: string, path: string): void {
  const problem = netnsProblem(path);
  if (problem) throw new PlanError(resource, field, problem);
}

/** Why `path` is not a network namespace, or null when it is one. */
export function netnsProblem(path: string): string | null {
  const notNetns = (what: string) =>
    `${path} is ${what} (expected a file like /run/netns/NAME or /proc/PID/ns/net)`;
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return `network namespace ${path} does not exist`;
    if (e instanceof Deno.errors.PermissionDenied) {
      return `cannot read ${path}: permission denied (needs root or CAP_SYS_ADMIN)`;
    }
    throw e;
  }
  if (!info.isFile || !onNsfs(path)) return notNetns("not a network namespace");
  const fd = libc().open(cstr(path), O.RDONLY | O.CLOEXEC | O_NONBLOCK, 0);
  if (fd < 0) return `cannot open ${path}: ${errnoName(errno())}`;
  try {
    const type = libc().ioctl(fd, NS_GET_NSTYPE, 0n);
    if (type === CLONE_NEWNET) return null;
    return notNetns(`a ${NS_TYPES[type] ?? "non-network namespace"}, not a network namespace`);
  } finally {
    libc().close(fd);
  }
}

function onNsfs(path: string): boolean {
  const buf = new Uint8Array(120);
  if (libc().statfs(cstr(path), buf) < 0) return false;
  return new DataView(buf.buffer).getBigUint64(0, true) === NSFS_MAGIC;
}

/**
 * Runs `fn` with this thread inside the netns at `path`, then switches back,
 * even when `fn` throws.
 *
 * @example Reading a netns's /proc/net/tcp
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function labTcp(): string {
 *   return inNetns("/run/netns/lab", () => Deno.readTextFileSync("/proc/thread-self/net/tcp"));
 * }
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
