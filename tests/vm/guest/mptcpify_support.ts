/**
 * Shared pieces of the MptcpifyHook guest tests: sockets created as another
 * task name, uid or cgroup; the hook's links; the CLI as a subprocess; and an
 * MPTCP listener in a lab netns that reports what each accepted connection is.
 *
 * Task name and uid change only the calling thread (prctl and a raw
 * setresuid syscall), and Deno runs FFI calls on the JS thread, so a
 * socket() made right after is made "as" that task. Cgroup membership is per
 * process: the whole test process moves, then moves back.
 *
 * @module
 */
import { check, cstr, errno, libc } from "../../../providers/libc/ffi.ts";
import { inNetns } from "../../../providers/system/netns.ts";
import { listLinks } from "../../../providers/libbpf/info.ts";
import { BPF_LINK_TYPE_TRACING, BPF_MODIFY_RETURN } from "../../../providers/libbpf/uapi.ts";
import { socketOption, SOCKOPT } from "../../../providers/system/socket_info.ts";

/** Socket constants. */
export const AF = { INET: 2, INET6: 10 } as const;
export const SOCK = { STREAM: 1, DGRAM: 2, NONBLOCK: 0o4000, CLOEXEC: 0o2000000 } as const;
export const IPPROTO = { TCP: 6, UDP: 17, MPTCP: 262 } as const;

const SYS_PRCTL = 157n;
const SYS_SETRESUID = 117n;
const PR_SET_NAME = 15n;
const PR_GET_NAME = 16n;

/** The project root (the guest sees the host's tree at the same path). */
export const PROJECT_ROOT = new URL("../../../", import.meta.url).pathname.replace(/\/$/, "");

/** The protocol the kernel gives `socket(family, type, protocol)`, via SO_PROTOCOL. */
export function socketProtocol(family: number = AF.INET, type: number = SOCK.STREAM, protocol = 0) {
  const fd = check("socket", libc().socket(family, type, protocol));
  try {
    return socketOption(fd, SOCKOPT.SO_PROTOCOL);
  } finally {
    libc().close(fd);
  }
}

function ptr(buf: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf as Uint8Array<ArrayBuffer>)));
}

function threadName(): Uint8Array<ArrayBuffer> {
  const buf = new Uint8Array(16);
  check("prctl(PR_GET_NAME)", libc().syscall(SYS_PRCTL, PR_GET_NAME, ptr(buf), 0n));
  return buf;
}

/** Runs `fn` with this thread's task name (comm) set to `name`. */
export function asComm<T>(name: string, fn: () => T): T {
  const saved = threadName();
  const wanted = cstr(name);
  check("prctl(PR_SET_NAME)", libc().syscall(SYS_PRCTL, PR_SET_NAME, ptr(wanted), 0n));
  try {
    return fn();
  } finally {
    check("prctl(PR_SET_NAME, back)", libc().syscall(SYS_PRCTL, PR_SET_NAME, ptr(saved), 0n));
  }
}

/** Runs `fn` with this thread's real uid set to `uid` (effective and saved stay root). */
export function asUid<T>(uid: number, fn: () => T): T {
  const keep = 0xffffffffn; // -1 as an unsigned id: leave unchanged
  check("setresuid", libc().syscall(SYS_SETRESUID, BigInt(uid), keep, keep));
  try {
    return fn();
  } finally {
    check("setresuid(back)", libc().syscall(SYS_SETRESUID, 0n, keep, keep));
  }
}

const CGROUP_ROOT = "/sys/fs/cgroup/unified";

function ownCgroup(): string {
  const line = Deno.readTextFileSync("/proc/self/cgroup").split("\n").find((l) =>
    l.startsWith("0::")
  );
  return `${CGROUP_ROOT}${line?.slice(3) ?? "/"}`.replace(/\/$/, "");
}

/** Runs `fn` with this whole process in cgroup `path`, then moves it back. */
export function inCgroup<T>(path: string, fn: () => T): T {
  const home = ownCgroup();
  Deno.writeTextFileSync(`${path}/cgroup.procs`, String(Deno.pid));
  try {
    return fn();
  } finally {
    Deno.writeTextFileSync(`${home}/cgroup.procs`, String(Deno.pid));
  }
}

/** A scratch cgroup tree under the v2 root; `cleanup()` removes it deepest first. */
export function scratchCgroup(children: string[] = []): { path: string; cleanup(): void } {
  const path = `${CGROUP_ROOT}/sf-mpy-${crypto.randomUUID().slice(0, 8)}`;
  Deno.mkdirSync(path);
  for (const child of children) Deno.mkdirSync(`${path}/${child}`, { recursive: true });
  return {
    path,
    cleanup() {
      for (const child of [...children].reverse()) Deno.removeSync(`${path}/${child}`);
      Deno.removeSync(path);
    },
  };
}

/** The fmod_ret links in the kernel, with their ids (any owner). */
export function fmodRetLinkIds(): number[] {
  return listLinks().filter((l) =>
    l.type === BPF_LINK_TYPE_TRACING && l.attachType === BPF_MODIFY_RETURN
  )
    .map((l) => l.id);
}

/**
 * Polls `probe` until it returns `want` (or `timeoutMs` passes) and returns the last value.
 * Unpinning a link's last reference frees it from a kernel workqueue, a moment later.
 */
export async function settle<T>(probe: () => T, want: T, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = probe();
  while (value !== want && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    value = probe();
  }
  return value;
}

/** Result of a CLI run. */
export interface CliRun {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/** Runs `deno run -A main.ts ...args` in the project, as a user would. */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", ...args],
    cwd: PROJECT_ROOT,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, signal: out.signal, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** What the server saw of one accepted connection. */
export interface AcceptedConnection {
  /** SO_PROTOCOL of the accepted socket: 262 for MPTCP, 6 for a TCP fallback. */
  protocol: number;
  /** getsockopt(SOL_MPTCP, MPTCP_INFO) worked: only an MPTCP connection answers it. */
  mptcpInfo: boolean;
  fd: number;
}

const SOL_MPTCP = 284;
const MPTCP_INFO = 1;
const EAGAIN = 11;

function sockaddrIn(address: string, port: number): Uint8Array<ArrayBuffer> {
  const sa = new Uint8Array(16);
  const view = new DataView(sa.buffer);
  view.setUint16(0, AF.INET, true);
  view.setUint16(2, port, false);
  address.split(".").forEach((octet, i) => sa[4 + i] = Number(octet));
  return sa;
}

/** An MPTCP listener (IPPROTO_MPTCP, non-blocking) bound inside a netns. */
export class MptcpListener {
  readonly fd: number;
  constructor(netnsPath: string, readonly address: string, readonly port: number) {
    this.fd = inNetns(netnsPath, () => {
      const fd = check("socket(mptcp)", libc().socket(AF.INET, SOCK.STREAM | SOCK.NONBLOCK, 262));
      const one = new Uint8Array(new Int32Array([1]).buffer);
      check("SO_REUSEADDR", libc().setsockopt(fd, 1, 2, one, 4));
      check("bind", libc().bind(fd, sockaddrIn(address, port), 16));
      check("listen", libc().listen(fd, 16));
      return fd;
    });
  }

  /** Waits (polling) for the next connection; throws after `timeoutMs`. */
  async accept(timeoutMs = 20_000): Promise<AcceptedConnection> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const fd = libc().accept(this.fd, null, null);
      if (fd >= 0) return { fd, ...describeAccepted(fd) };
      if (errno() !== EAGAIN) check("accept", -1);
      if (Date.now() > deadline) {
        throw new Error(`no connection on ${this.port} in ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): void {
    libc().close(this.fd);
  }
}

function describeAccepted(fd: number): { protocol: number; mptcpInfo: boolean } {
  const info = new Uint8Array(256);
  const len = new Uint32Array([info.length]);
  const ok = libc().getsockopt(fd, SOL_MPTCP, MPTCP_INFO, info, new Uint8Array(len.buffer)) === 0;
  return { protocol: socketOption(fd, SOCKOPT.SO_PROTOCOL), mptcpInfo: ok };
}
