/**
 * errno names and the one error type every provider call failure becomes.
 *
 * @module
 */

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  7: "E2BIG",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  24: "EMFILE",
  28: "ENOSPC",
  34: "ERANGE",
  38: "ENOSYS",
  39: "ENOTEMPTY",
  40: "ELOOP",
  61: "ENODATA",
  71: "EPROTO",
  88: "ENOTSOCK",
  93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  111: "ECONNREFUSED",
  110: "ETIMEDOUT",
  524: "ENOTSUPP",
};

/** The symbolic name of an errno value, e.g. `1` → `EPERM`. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

/**
 * A failed kernel, libc, libbpf or netlink call: names the call, the errno and what it means.
 *
 * @example
 * ```ts
 * const err = new KernelCallError("bpf_link__pin", 17, "File exists");
 * console.log(err.message); // bpf_link__pin: EEXIST (File exists)
 * ```
 */
export class KernelCallError extends Error {
  override name = "KernelCallError";
  readonly errnoName: string;
  constructor(
    readonly call: string,
    readonly errno: number,
    readonly detail: string,
    readonly log?: string,
  ) {
    super(`${call}: ${errnoName(errno)} (${detail})${log ? `\n${log}` : ""}`);
    this.errnoName = errnoName(errno);
  }
}
