// @vm-kernels 6.12
/**
 * The headline proof, in a two-path veth lab inside the 6.12 VM: a statically
 * linked client (busybox nc) reaches an MPTCP listener as MPTCP under
 * MptcpifyHook, while `mptcpize run` (LD_PRELOAD) leaves the same binary on
 * plain TCP; and with a subflow endpoint on the client, the unmodified
 * client's connection forms two subflows.
 *
 * @module
 */
import assert from "node:assert/strict";
import { MptcpifyHook } from "../../../resources/mptcpify_hook.ts";
import { Stack } from "../../../engine/stack.ts";
import { applyStack, destroyStack } from "../../../engine/session.ts";
import { kernelStore } from "../../../providers/state/kernel_store.ts";
import { setupTwoPathLab, type TwoPathLab } from "../../../lab/two_path_lab.ts";
import { groupByConnection, listSubflows } from "../../../lab/subflows.ts";
import { addEndpoint, setLimits } from "../../../providers/netlink/mptcp_pm.ts";
import { libc } from "../../../providers/libc/ffi.ts";
import { privateBpffs } from "../../../lab/bpffs.ts";
import { skipOutsideVm, vmKernel } from "./vm_env.ts";
import { type AcceptedConnection, IPPROTO, MptcpListener } from "./mptcpify_support.ts";
import { programCommand } from "../../../providers/system/programs.ts";

const BUSYBOX = "/bin/busybox";

/** Is `path` a statically linked ELF? (no PT_INTERP program header) */
function isStatic(path: string): boolean {
  const elf = Deno.readFileSync(path);
  const v = new DataView(elf.buffer);
  const phoff = Number(v.getBigUint64(0x20, true));
  const phentsize = v.getUint16(0x36, true);
  const phnum = v.getUint16(0x38, true);
  const PT_INTERP = 3;
  for (let i = 0; i < phnum; i++) {
    if (v.getUint32(phoff + i * phentsize, true) === PT_INTERP) return false;
  }
  return true;
}

/**
 * Runs `argv` in the lab's client netns, feeding it a line every 100 ms, until
 * the listener accepts; then checks the connection with `inspect` while it is
 * open, and closes both ends.
 */
async function connectAndInspect<T>(
  lab: TwoPathLab,
  listener: MptcpListener,
  argv: string[],
  inspect: (conn: AcceptedConnection) => Promise<T>,
): Promise<T> {
  const child = programCommand(["ip", "netns", "exec", lab.client.name, ...argv], {
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  const feeding = setInterval(() => writer.write(new TextEncoder().encode("hello\n")), 100);
  let conn: AcceptedConnection | undefined;
  try {
    conn = await listener.accept();
    return await inspect(conn);
  } finally {
    clearInterval(feeding);
    if (conn) libc().close(conn.fd);
    await writer.close().catch(() => {});
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.status;
  }
}

/** Waits for the server's MPTCP connection on `port` to reach `count` subflows. */
async function serverSubflows(lab: TwoPathLab, port: number, count: number): Promise<number> {
  const deadline = Date.now() + 20_000;
  let seen = 0;
  while (Date.now() < deadline) {
    const mine = (await listSubflows(lab.server.name)).filter((s) => s.localPort === port);
    seen = Math.max(0, ...groupByConnection(mine).map((c) => c.subflows.length));
    if (seen >= count) return seen;
    await new Promise((r) => setTimeout(r, 200));
  }
  return seen;
}

const vm = vmKernel();
if (!vm) {
  skipOutsideVm("MptcpifyHook lab tests");
} else {
  Deno.test("a static binary gets MPTCP under MptcpifyHook; mptcpize cannot reach it", async (t) => {
    assert.ok(isStatic(BUSYBOX), `${BUSYBOX} must be statically linked (Debian busybox-static)`);
    const lab = await setupTwoPathLab({ prefix: "sf-mpy", cleanupOnSigint: false });
    const fs = privateBpffs();
    const server = lab.paths[0].serverAddress;
    const listener = new MptcpListener(lab.server.path, "0.0.0.0", 5201);
    const nc = [BUSYBOX, "nc", server, "5201"];
    const stack = new Stack("mpy-lab", [
      new MptcpifyHook("static-apps", { scope: { commands: ["busybox"] } }),
    ]);
    try {
      await t.step("control: mptcpize makes a dynamically linked client (curl) MPTCP", async () => {
        const curl = ["mptcpize", "run", "curl", "-s", "-m", "20", `http://${server}:5201/`];
        const conn = await connectAndInspect(lab, listener, curl, (c) => Promise.resolve(c));
        assert.equal(conn.protocol, IPPROTO.MPTCP);
      });
      await t.step("mptcpize run: the static binary stays plain TCP (fallback)", async () => {
        const conn = await connectAndInspect(
          lab,
          listener,
          ["mptcpize", "run", ...nc],
          (c) => Promise.resolve(c),
        );
        assert.equal(conn.protocol, IPPROTO.TCP, "accepted as a TCP fallback");
        assert.equal(conn.mptcpInfo, false, "no MPTCP_INFO for a fallback connection");
      });
      await applyStack(stack, kernelStore(fs.root));
      await t.step("MptcpifyHook: the same static binary, unmodified, is MPTCP", async () => {
        const subflows = await connectAndInspect(lab, listener, nc, async (c) => {
          assert.equal(c.protocol, IPPROTO.MPTCP, "accepted as MPTCP");
          assert.equal(c.mptcpInfo, true, "MPTCP_INFO answers");
          return await serverSubflows(lab, 5201, 1);
        });
        assert.equal(subflows, 1, "the server sees the connection's MPTCP subflow");
      });
      await t.step(
        "with a subflow endpoint, the unmodified client's connection forms 2 subflows",
        async () => {
          setLimits({ subflows: 2, addAddrAccepted: 2 }, lab.server.path);
          setLimits({ subflows: 2, addAddrAccepted: 2 }, lab.client.path);
          addEndpoint({ address: lab.paths[1].clientAddress, flags: ["subflow"] }, lab.client.path);
          const subflows = await connectAndInspect(lab, listener, nc, async (c) => {
            assert.equal(c.protocol, IPPROTO.MPTCP);
            return await serverSubflows(lab, 5201, 2);
          });
          assert.equal(subflows, 2);
        },
      );
    } finally {
      listener.close();
      try {
        await destroyStack(stack, kernelStore(fs.root));
      } finally {
        fs.cleanup();
        await lab.teardown();
      }
    }
  });
}
