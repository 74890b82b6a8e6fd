/**
 * Listener discovery against the real kernel: socket-holding processes
 * started inside fresh network namespaces, found by address, duplicated
 * with pidfd_getfd, and proven to be the right socket with real traffic.
 */
import assert from "node:assert/strict";
import { findListener, ListenerError, takeSocket } from "../../providers/system/listeners.ts";
import { socketCookie } from "../../providers/system/socket_info.ts";
import { check, libc } from "../../providers/libc/ffi.ts";
import { inNetns, netnsInode } from "../../providers/system/netns.ts";
import { parseIp } from "../../providers/system/proc_net.ts";
import { programCommand } from "../../providers/system/programs.ts";

const PROVIDERS = new URL("../../providers/", import.meta.url).href;

interface HolderSpec {
  address: string;
  udp?: boolean;
  mptcp?: boolean;
  v6only?: boolean;
  noListen?: boolean;
}

interface Holder {
  pid: number;
  fd: number;
  port: number;
  stop(): Promise<void>;
}

// A child deno process that creates one socket with libc, reports {pid, fd, port}
// and holds the socket until its stdin closes or it is killed.
function holderProgram(spec: HolderSpec): string {
  return `
import { check, libc } from "${PROVIDERS}libc/ffi.ts";
import { parseIp } from "${PROVIDERS}system/proc_net.ts";
const spec = ${JSON.stringify(spec)};
const ip = parseIp(spec.address);
const af = ip.length === 4 ? 2 : 10;
const fd = check("socket", libc().socket(af, spec.udp ? 2 : 1, spec.udp ? 17 : spec.mptcp ? 262 : 6));
if (spec.v6only) check("setsockopt", libc().setsockopt(fd, 41, 26, new Int32Array([1]), 4));
const sa = new Uint8Array(af === 2 ? 16 : 28);
new DataView(sa.buffer).setUint16(0, af, true);
sa.set(ip, af === 2 ? 4 : 8);
check("bind", libc().bind(fd, sa, sa.length));
if (!spec.udp && !spec.noListen) check("listen", libc().listen(fd, 16));
const name = new Uint8Array(28);
check("getsockname", libc().getsockname(fd, name, new Uint32Array([28])));
console.log(JSON.stringify({ pid: Deno.pid, fd, port: new DataView(name.buffer).getUint16(2) }));
await Deno.stdin.read(new Uint8Array(1));
`;
}

async function startHolder(spec: HolderSpec, netns?: string): Promise<Holder> {
  const deno = [Deno.execPath(), "eval", holderProgram(spec)];
  const argv = netns ? ["ip", "netns", "exec", netns, ...deno] : deno;
  const child = programCommand(argv, { stdin: "piped", stdout: "piped", stderr: "inherit" })
    .spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stop = async () => {
    child.kill("SIGKILL");
    await reader.cancel();
    await child.stdin.close().catch(() => {});
    await child.status;
  };
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) {
      await stop();
      throw new Error(`socket holder exited before reporting (${JSON.stringify(spec)})`);
    }
    text += value;
  }
  return { ...JSON.parse(text), stop };
}

/** A socket created in `netns` and connected to address:port; the caller closes it. */
function inNetnsSocket(netns: string, address: string, port: number, proto: "tcp" | "udp"): number {
  const ip = parseIp(address)!;
  const af = ip.length === 4 ? 2 : 10;
  const sa = new Uint8Array(af === 2 ? 16 : 28);
  const view = new DataView(sa.buffer);
  view.setUint16(0, af, true);
  view.setUint16(2, port);
  sa.set(ip, af === 2 ? 4 : 8);
  const fd = inNetns(netns, () => check("socket", libc().socket(af, proto === "udp" ? 2 : 1, 0)));
  try {
    check("connect", libc().connect(fd, sa, sa.length));
  } catch (err) {
    libc().close(fd);
    throw err;
  }
  return fd;
}

/** A fresh netns with lo up, removed with everything in it after `fn`. */
async function withNetns(fn: (name: string, path: string) => Promise<void>): Promise<void> {
  const name = `sf-lst-${crypto.randomUUID().slice(0, 8)}`;
  await run("ip", "netns", "add", name);
  try {
    await run("ip", "-n", name, "link", "set", "lo", "up");
    await fn(name, `/run/netns/${name}`);
  } finally {
    await run("ip", "netns", "del", name);
  }
}

async function run(cmd: string, ...args: string[]): Promise<void> {
  const out = await programCommand([cmd, ...args], { stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Runs `fn` with the holder and everything `fn` opened cleaned up afterwards. */
async function withHolder(
  spec: HolderSpec,
  netns: string | undefined,
  fn: (holder: Holder, own: number[]) => void | Promise<void>,
): Promise<void> {
  const holder = await startHolder(spec, netns);
  const own: number[] = [];
  try {
    await fn(holder, own);
  } finally {
    for (const fd of own) libc().close(fd);
    await holder.stop();
  }
}

Deno.test("findListener() takes a TCP listener from another netns and it accepts connections", async () => {
  await withNetns(async (name, path) => {
    await withHolder({ address: "127.0.0.1" }, name, (holder, own) => {
      const l = findListener(`tcp://127.0.0.1:${holder.port}`, path);
      own.push(l.fd);
      assert.deepEqual(
        [l.pid, l.protocol, l.family, l.address, l.port, l.mptcp, l.netnsInode],
        [holder.pid, "tcp", "ipv4", "127.0.0.1", holder.port, false, netnsInode(path)],
      );
      assert.equal(Deno.readLinkSync(`/proc/${holder.pid}/fd/${holder.fd}`), `socket:[${l.inode}]`);

      const direct = takeSocket(holder.pid, holder.fd);
      own.push(direct.fd);
      assert.equal(
        socketCookie(l.fd),
        socketCookie(direct.fd),
        "two dups of one socket share a cookie",
      );

      const client = inNetnsSocket(path, "127.0.0.1", holder.port, "tcp");
      own.push(client);
      assert.notEqual(socketCookie(client), socketCookie(l.fd));
      const accepted = check("accept", libc().accept(l.fd, null, null));
      own.push(accepted);
    });
  });
});

Deno.test("findListener() finds IPv6 listeners by bracketed address", async () => {
  await withNetns(async (name, path) => {
    await withHolder({ address: "::1" }, name, (holder, own) => {
      const l = findListener(`tcp://[::1]:${holder.port}`, path);
      own.push(l.fd);
      assert.deepEqual([l.pid, l.family, l.address], [holder.pid, "ipv6", "::1"]);
      own.push(inNetnsSocket(path, "::1", holder.port, "tcp"));
      own.push(check("accept", libc().accept(l.fd, null, null)));
    });
  });
});

Deno.test("findListener() takes an unconnected UDP socket that then receives datagrams", async () => {
  await withNetns(async (name, path) => {
    await withHolder({ address: "127.0.0.1", udp: true }, name, (holder, own) => {
      const l = findListener(`udp://127.0.0.1:${holder.port}`, path);
      own.push(l.fd);
      assert.deepEqual([l.pid, l.protocol, l.port], [holder.pid, "udp", holder.port]);
      const sender = inNetnsSocket(path, "127.0.0.1", holder.port, "udp");
      own.push(sender);
      const payload = new TextEncoder().encode("sockform");
      check("write", libc().write(sender, payload, BigInt(payload.length)));
      const got = new Uint8Array(64);
      const n = check("read", libc().read(l.fd, got, BigInt(got.length)));
      assert.equal(new TextDecoder().decode(got.subarray(0, n)), "sockform");
    });
  });
});

Deno.test("findListener() falls back to wildcard binds, dual-stack only when not IPV6_V6ONLY", async (t) => {
  await withNetns(async (name, path) => {
    await t.step("0.0.0.0 serves a 127.0.0.1 URL", async () => {
      await withHolder({ address: "0.0.0.0" }, name, (holder, own) => {
        const l = findListener(`tcp://127.0.0.1:${holder.port}`, path);
        own.push(l.fd);
        assert.deepEqual([l.pid, l.address], [holder.pid, "0.0.0.0"]);
      });
    });
    await t.step(":: (dual-stack) serves a 127.0.0.1 URL", async () => {
      await withHolder({ address: "::" }, name, (holder, own) => {
        const l = findListener(`tcp://127.0.0.1:${holder.port}`, path);
        own.push(l.fd);
        assert.deepEqual([l.pid, l.family, l.address], [holder.pid, "ipv6", "::"]);
      });
    });
    await t.step(":: with IPV6_V6ONLY does not serve a 127.0.0.1 URL", async () => {
      await withHolder({ address: "::", v6only: true }, name, (holder) => {
        assert.throws(() => findListener(`tcp://127.0.0.1:${holder.port}`, path), {
          name: "ListenerError",
          message: `no usable TCP listener on 127.0.0.1:${holder.port} in netns ${path}: ` +
            `the [::]:${holder.port} socket is IPV6_V6ONLY and takes no IPv4`,
        });
      });
    });
  });
});

Deno.test("findListener() names the address and netns when nothing listens there", async () => {
  await withNetns(async (name, path) => {
    // A listener in the current netns must not be visible from the fresh one.
    await withHolder({ address: "127.0.0.1" }, undefined, (holder, own) => {
      const url = `tcp://127.0.0.1:${holder.port}`;
      assert.throws(() => findListener(url, path), (err: Error) => {
        assert.ok(err instanceof ListenerError);
        assert.equal(err.message, `no TCP listener on 127.0.0.1:${holder.port} in netns ${path}`);
        return true;
      });
      const here = findListener(url);
      own.push(here.fd);
      assert.equal(here.pid, holder.pid, "the current netns finds it");
    });
    assert.throws(
      () => findListener("udp://[2001:db8::1]:53", path),
      /^ListenerError: no UDP socket on \[2001:db8::1\]:53 in netns \/run\/netns\/sf-lst-/,
    );
    assert.ok(name.startsWith("sf-lst-"));
  });
});

Deno.test("findListener() reports MPTCP listeners so they can be refused", async () => {
  await withNetns(async (name, path) => {
    await withHolder({ address: "127.0.0.1", mptcp: true }, name, (holder, own) => {
      const l = findListener(`tcp://127.0.0.1:${holder.port}`, path);
      own.push(l.fd);
      assert.deepEqual([l.pid, l.protocol, l.mptcp], [holder.pid, "tcp", true]);
    });
  });
});

Deno.test("takeSocket() refuses fds that cannot be destinations", async () => {
  await withNetns(async (name) => {
    await withHolder({ address: "127.0.0.1", noListen: true }, name, (holder) => {
      const named = `pid ${holder.pid} fd`;
      assert.throws(() => takeSocket(holder.pid, holder.fd), {
        message: `${named} ${holder.fd} is a TCP socket that is not listening`,
      });
      assert.throws(
        () => takeSocket(holder.pid, 0),
        new RegExp(`^ListenerError: ${named} 0 is not a socket`),
      );
      assert.throws(() => takeSocket(holder.pid, 9999), {
        message: `cannot take ${named} 9999: no such file descriptor`,
      });
    });
  });
});
