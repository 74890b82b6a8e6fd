/**
 * The one `Deno.dlopen` table for libc. Each symbol carries its C signature.
 * Override the library path with `SOCKFORM_LIBC`.
 *
 * @module
 */
import { KernelCallError } from "../system/errno.ts";

const symbols = {
  // int *__errno_location(void);
  __errno_location: { parameters: [], result: "pointer" },
  // char *strerror(int errnum);
  strerror: { parameters: ["i32"], result: "pointer" },
  // int socket(int domain, int type, int protocol);
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int bind(int fd, const struct sockaddr *addr, socklen_t len);
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int connect(int fd, const struct sockaddr *addr, socklen_t len);
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int listen(int fd, int backlog);
  listen: { parameters: ["i32", "i32"], result: "i32" },
  // int accept(int fd, struct sockaddr *addr, socklen_t *len);
  accept: { parameters: ["i32", "pointer", "pointer"], result: "i32" },
  // ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *a, socklen_t l);
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  // ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *a, socklen_t *l);
  recvfrom: {
    parameters: ["i32", "buffer", "usize", "i32", "pointer", "pointer"],
    result: "isize",
  },
  // ssize_t read(int fd, void *buf, size_t n);
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // ssize_t write(int fd, const void *buf, size_t n);
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // int setsockopt(int fd, int level, int name, const void *val, socklen_t len);
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  // int getsockopt(int fd, int level, int name, void *val, socklen_t *len);
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  // int getsockname(int fd, struct sockaddr *addr, socklen_t *len);
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int getpeername(int fd, struct sockaddr *addr, socklen_t *len);
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int ioctl(int fd, unsigned long request, ...);  called with one integer argument
  ioctl: { parameters: ["i32", "u64", "u64"], result: "i32" },
  // int close(int fd);
  close: { parameters: ["i32"], result: "i32" },
  // int open(const char *path, int flags, mode_t mode);
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  // int setns(int fd, int nstype);
  setns: { parameters: ["i32", "i32"], result: "i32" },
  // int flock(int fd, int operation);
  flock: { parameters: ["i32", "i32"], result: "i32" },
  // int mount(const char *src, const char *target, const char *fstype, unsigned long flags, const void *data);
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "pointer"], result: "i32" },
  // int umount2(const char *target, int flags);
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  // int statfs(const char *path, struct statfs *buf);
  statfs: { parameters: ["buffer", "buffer"], result: "i32" },
  // long syscall(long number, ...);  used for pidfd_open / pidfd_getfd (no glibc wrapper on bookworm)
  syscall: { parameters: ["i64", "i64", "i64", "i64"], result: "i64" },
  // pid_t getpid(void);
  getpid: { parameters: [], result: "i32" },
  // pid_t gettid(void);
  gettid: { parameters: [], result: "i32" },
  // int unshare(int flags);
  unshare: { parameters: ["i32"], result: "i32" },
  // int poll(struct pollfd *fds, nfds_t n, int timeout);  nonblocking: runs on Deno's blocking
  // pool and returns a Promise, so a listener waits without blocking the event loop. errno of
  // that thread is not readable here: callers treat -1 as "poll again".
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  // the same poll(2), synchronous on the calling thread: the agent process's dedicated loop
  // waits in it so an event is handled on the thread the kernel wakes, without a pool hop.
  pollBlocking: { name: "poll", parameters: ["buffer", "u64", "i32"], result: "i32" },
  // int eventfd(unsigned int initval, int flags);  wakes a pending poll on close
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

let lib: Deno.DynamicLibrary<typeof symbols> | undefined;

/** The libc symbol table, opened on first use. */
export function libc(): Deno.DynamicLibrary<typeof symbols>["symbols"] {
  lib ??= Deno.dlopen(Deno.env.get("SOCKFORM_LIBC") ?? "libc.so.6", symbols);
  return lib.symbols;
}

/** The calling thread's current errno. */
export function errno(): number {
  const p = libc().__errno_location();
  return p ? new Deno.UnsafePointerView(p).getInt32() : 0;
}

/** strerror(3) text for an errno. */
export function strerror(code: number): string {
  const p = libc().strerror(code);
  return p ? new Deno.UnsafePointerView(p).getCString() : `errno ${code}`;
}

/**
 * The return-code funnel for libc: a negative result becomes a `KernelCallError`
 * naming the call and errno; anything else is returned as a number.
 */
export function check(call: string, rc: number | bigint): number {
  const n = Number(rc);
  if (n < 0) {
    const code = errno();
    throw new KernelCallError(call, code, strerror(code));
  }
  return n;
}

/** A NUL-terminated C string in a buffer, for `buffer` parameters. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(s + "\0");
  return new Uint8Array(bytes.buffer as ArrayBuffer);
}

/** Linux syscall numbers for x86_64 calls glibc 2.36 does not wrap. */
export const SYS = { pidfd_open: 434, pidfd_getfd: 438 } as const;

/** open(2) flags used by providers. */
export const O = {
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  CREAT: 0o100,
  DIRECTORY: 0o200000,
  NOFOLLOW: 0o400000,
  CLOEXEC: 0o2000000,
} as const;

/** Namespace and flock constants. */
export const CLONE_NEWNET = 0x40000000;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
