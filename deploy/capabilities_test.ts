/**
 * The DaemonSet's capability list (and hostPID), measured on the real kernel rather than argued: the CLI runs as
 * root whose bounding set holds only the capabilities the manifest adds (as a container with
 * `drop: [ALL]` and that `add:` list gets), and applies, plans and destroys a stack that touches
 * what a node's agent touches: a SocketLookupRedirect in another netns (setns, sk_lookup,
 * SOCKHASH, pins, the listener's owner found in /proc and its socket taken with pidfd_getfd), a
 * TcpTuning on a cgroup (sock_ops) and a PathManager's limits in that netns (MPTCP netlink).
 * Traffic shows the redirect works.
 * Without CAP_SYS_ADMIN, CAP_NET_ADMIN or CAP_SYS_PTRACE the same apply fails, so the restriction
 * is real (and each of the three is needed).
 * Kernel tier: root, a private bpffs, its own netns and cgroup, all removed afterwards.
 * Not covered here: seccomp and AppArmor profiles, and the read-only /proc/sys of a container.
 */
import assert from "node:assert/strict";
import { renderKustomization } from "./manifests.ts";
import { programCommand } from "../providers/system/programs.ts";
import { privateBpffs } from "../lab/bpffs.ts";
import { type SlrLab, withSlrLab } from "../tests/helpers/slr_lab.ts";
import { privateCgroup } from "../tests/helpers/tcp_tuning_lab.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** The capabilities the base DaemonSet's agent container adds, e.g. ["BPF", "NET_ADMIN"]. */
function manifestCapabilities(): string[] {
  const ds = renderKustomization(`${ROOT}deploy/kubernetes/base`)
    .find((m) => m.object.kind === "DaemonSet")?.object;
  // deno-lint-ignore no-explicit-any
  const container = (ds as any).spec.template.spec.containers[0];
  assert.deepEqual(container.securityContext.capabilities.drop, ["ALL"]);
  return container.securityContext.capabilities.add;
}

interface Run {
  code: number;
  output: string;
}

/** `main.ts ARGS` as root with a bounding set of `caps` only (so no other capability). */
async function cliWithCaps(caps: readonly string[], args: string[]): Promise<Run> {
  const bounding = ["-all", ...caps.map((c) => `+${c.toLowerCase()}`)].join(",");
  const argv = ["setpriv", "--bounding-set", bounding, "--inh-caps", "-all", Deno.execPath()];
  const out = await programCommand([...argv, "run", "-A", `${ROOT}main.ts`, ...args], {
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, output: text };
}

function writeStack(dir: string, lab: SlrLab, cgroup: string): string {
  const slr = {
    netns: lab.path,
    bindings: [{ protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "a" }],
    destinations: { a: { listener: "tcp://127.0.0.1:8080" } },
  };
  const tuning = { cgroup, rules: [{ match: {}, set: { noDelay: true } }] };
  const pm = { netns: lab.path, mode: "kernel", limits: { subflows: 2, addAddrAccepted: 0 } };
  const path = `${dir}/stack.ts`;
  Deno.writeTextFileSync(
    path,
    `import { PathManager, SocketLookupRedirect, Stack, TcpTuning } from "${ROOT}mod.ts";\n` +
      `export default new Stack("caps", [\n` +
      `  new SocketLookupRedirect("web", ${JSON.stringify(slr)}),\n` +
      `  new TcpTuning("pods", ${JSON.stringify(tuning)}),\n` +
      `  new PathManager("mptcp", ${JSON.stringify(pm)}),\n]);\n`,
  );
  return path;
}

async function withCapsLab(
  fn: (
    lab: SlrLab,
    cli: (caps: readonly string[], ...args: string[]) => Promise<Run>,
  ) => Promise<void>,
): Promise<void> {
  await withSlrLab(async (lab) => {
    await lab.serve("tcp", "127.0.0.1", 8080, "A");
    const bpffs = privateBpffs();
    const cgroup = privateCgroup("sf-caps");
    const tmp = Deno.makeTempDirSync({ prefix: "sf-caps-" });
    try {
      const stack = writeStack(tmp, lab, cgroup.path);
      await fn(
        lab,
        (caps, ...args) => cliWithCaps(caps, [...args, "-s", stack, "--state-root", bpffs.root]),
      );
    } finally {
      bpffs.cleanup();
      await cgroup.remove();
      Deno.removeSync(tmp, { recursive: true });
    }
  }, "caps");
}

Deno.test("the DaemonSet's capabilities suffice: apply, plan in sync, traffic redirected, destroy (root)", async () => {
  const caps = manifestCapabilities();
  await withCapsLab(async (lab, cli) => {
    const apply = await cli(caps, "apply", "--auto-approve");
    assert.equal(apply.code, 0, apply.output);
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "A");
    const plan = await cli(caps, "plan", "--detailed-exitcode");
    assert.equal(plan.code, 0, plan.output);
    const destroy = await cli(caps, "destroy", "--auto-approve");
    assert.equal(destroy.code, 0, destroy.output);
    assert.notEqual(await lab.ask("tcp", "192.0.2.10", 80), "A");
  });
});

Deno.test("without CAP_SYS_ADMIN, CAP_NET_ADMIN or CAP_SYS_PTRACE the same apply fails (root)", async (t) => {
  const caps = manifestCapabilities();
  for (const missing of ["SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"]) {
    await t.step(`without ${missing}`, async () => {
      await withCapsLab(async (lab, cli) => {
        const apply = await cli(caps.filter((c) => c !== missing), "apply", "--auto-approve");
        assert.equal(apply.code, 1, apply.output);
        assert.match(apply.output, /^Error: /m);
        // The error names the capability, not a stale socket or a security policy.
        assert.match(apply.output, new RegExp(`CAP_${missing}`), apply.output);
        assert.notEqual(await lab.ask("tcp", "192.0.2.10", 80), "A");
      });
    });
  }
});
