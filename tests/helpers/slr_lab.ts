/**
 * A throw-away network namespace for SocketLookupRedirect kernel tests: lo up
 * with documentation addresses on it, real listener processes inside, and
 * clients that connect from inside and report which listener answered.
 *
 * Every listener replies with its own name, so a test proves which socket
 * got a connection by reading the reply.
 *
 * @module
 */
import { netnsInode } from "../../providers/system/netns.ts";

/** Addresses put on lo in every lab (whole prefixes are local, see `create`). */
export const LAB_PREFIXES = ["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/64"] as const;

/** A listener process inside a lab. */
export interface LabServer {
  pid: number;
  /** The bound port (useful when asked for port 0). */
  port: number;
  /** The listening socket's fd in that process (for `{ pid, fd }` destinations). */
  fd: number;
  /** SIGKILLs the process and waits for it; safe to call twice. */
  stop(): Promise<void>;
}

/** A fresh netns for one test. */
export interface SlrLab {
  name: string;
  /** `/run/netns/<name>`, what specs take. */
  path: string;
  /** The netns inode, as link info reports it. */
  ino: number;
  /** Starts a listener named `reply` on host:port (`proto` tcp or udp). */
  serve(proto: "tcp" | "udp", host: string, port: number, reply: string): Promise<LabServer>;
  /**
   * Connects (TCP) or sends a datagram (UDP) from inside the netns and returns
   * the reply text, or `ERR:<reason>` (e.g. `ERR:ConnectionRefusedError`).
   */
  ask(proto: "tcp" | "udp", host: string, port: number): Promise<string>;
  /** Kills every process in the netns and deletes it; safe to call twice. */
  cleanup(): Promise<void>;
}

const SERVER = `
import socket, sys
proto, host, port, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
if proto == "tcp":
    s.listen(128)
print(s.getsockname()[1], s.fileno(), flush=True)
while True:
    if proto == "tcp":
        c, _ = s.accept()
        c.sendall(name)
        c.close()
    else:
        _, peer = s.recvfrom(2048)
        s.sendto(name, peer)
`;

const CLIENT = `
import socket, sys
proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.settimeout(5)
try:
    if proto == "tcp":
        s.connect((host, port))
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    else:
        s.sendto(b"hello", (host, port))
        data, _ = s.recvfrom(2048)
    print(data.decode())
except Exception as e:
    print("ERR:" + type(e).__name__)
`;
import { programCommand } from "../../providers/system/programs.ts";

/** Runs a command; throws with its stderr when it fails. Returns stdout. */
export async function sh(cmd: string, ...args: string[]): Promise<string> {
  const out = await programCommand([cmd, ...args], { stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(out.stderr).trim()}`);
  return dec.decode(out.stdout);
}

/** A short random suffix for unique names. */
export function uniqueSuffix(): string {
  return crypto.randomUUID().slice(0, 8);
}

async function startServer(
  netns: string,
  args: string[],
): Promise<LabServer> {
  const child = programCommand([
    "ip",
    "netns",
    "exec",
    netns,
    "python3",
    "-u",
    "-c",
    SERVER,
    ...args,
  ], {
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.status;
    await child.stderr.cancel().catch(() => {});
  };
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) {
      await stop();
      throw new Error(`listener ${args.join(" ")} exited before it was ready`);
    }
    text += value;
  }
  // Keep draining stdout so the pipe never fills; nothing more is printed.
  reader.read().catch(() => {}).finally(() => reader.releaseLock());
  const [port, fd] = text.trim().split(" ").map(Number);
  return { pid: child.pid, port, fd, stop };
}

/**
 * Creates a lab netns named `sf-slr-<random>`: lo up; 192.0.2.10/24,
 * 198.51.100.10/24 and 2001:db8::10/64 on lo, with the whole prefixes routed
 * as local so any address inside them is a local destination.
 *
 * @example
 * ```ts
 * const lab = await createSlrLab();
 * try { await lab.serve("tcp", "127.0.0.1", 8080, "A"); } finally { await lab.cleanup(); }
 * ```
 */
export async function createSlrLab(tag = "slr"): Promise<SlrLab> {
  const name = `sf-${tag}-${uniqueSuffix()}`;
  await sh("ip", "netns", "add", name);
  const servers: LabServer[] = [];
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const s of servers) await s.stop();
    const pids = (await sh("ip", "netns", "pids", name).catch(() => "")).split(/\s+/);
    for (const pid of pids.filter(Boolean)) {
      try {
        Deno.kill(Number(pid), "SIGKILL");
      } catch { /* gone */ }
    }
    await sh("ip", "netns", "del", name).catch(() => {});
  };
  try {
    const ipn = (...a: string[]) => sh("ip", "-n", name, ...a);
    await ipn("link", "set", "lo", "up");
    await ipn("addr", "add", "192.0.2.10/24", "dev", "lo");
    await ipn("addr", "add", "198.51.100.10/24", "dev", "lo");
    await ipn("-6", "addr", "add", "2001:db8::10/64", "dev", "lo", "nodad");
    for (const p of LAB_PREFIXES) await ipn("route", "replace", "local", p, "dev", "lo");
  } catch (e) {
    await cleanup();
    throw e;
  }
  const path = `/run/netns/${name}`;
  return {
    name,
    path,
    ino: netnsInode(path),
    async serve(proto, host, port, reply) {
      const s = await startServer(name, [proto, host, String(port), reply]);
      servers.push(s);
      return s;
    },
    async ask(proto, host, port) {
      const out = await sh(
        "ip",
        "netns",
        "exec",
        name,
        "python3",
        "-c",
        CLIENT,
        proto,
        host,
        `${port}`,
      );
      return out.trim();
    },
    cleanup,
  };
}

/**
 * Runs `fn` with a fresh lab that is always removed afterwards.
 *
 * @example
 * ```ts
 * await withSlrLab(async (lab) => console.log(await lab.ask("tcp", "192.0.2.10", 80)));
 * ```
 */
export async function withSlrLab<T>(fn: (lab: SlrLab) => Promise<T>, tag?: string): Promise<T> {
  const lab = await createSlrLab(tag);
  try {
    return await fn(lab);
  } finally {
    await lab.cleanup();
  }
}
