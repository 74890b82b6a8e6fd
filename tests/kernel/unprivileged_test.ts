/**
 * An unprivileged user (nobody, no capabilities) running the CLI on a state
 * root of their own is told the real cause, in one line: the privilege the
 * feature probe or the call needs, never "this kernel does not have it" and
 * never "this looks like a sockform bug".
 */
import assert from "node:assert/strict";
import { withNobody } from "../helpers/unprivileged.ts";

const STACKS: Record<string, string> = {
  SocketLookupRedirect: `new SocketLookupRedirect("web", ${
    JSON.stringify({
      bindings: [{ protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "A" }],
      destinations: { A: { listener: "tcp://127.0.0.1:8080" } },
    })
  })`,
  TcpTuning: `new TcpTuning("web", ${
    JSON.stringify({
      cgroup: "/sys/fs/cgroup/unified",
      rules: [{ match: {}, set: { noDelay: true } }],
    })
  })`,
};

/** The one non-progress stderr line, with no "sockform bug" hint. */
function errorLine(stderr: string): string {
  const lines = stderr.trim().split("\n").filter((l) => !l.startsWith("… "));
  assert.equal(lines.length, 1, `expected one error line, got:\n${stderr}`);
  assert.ok(lines[0].startsWith("Error: "), lines[0]);
  return lines[0];
}

Deno.test("unprivileged: plan on one's own state root names the missing privilege", async (t) => {
  await withNobody(async (env) => {
    for (const [kind, make] of Object.entries(STACKS)) {
      await t.step(kind, async () => {
        const file = `${env.home}/${kind}.ts`;
        Deno.writeTextFileSync(
          file,
          `import { ${kind}, Stack } from "${env.repo}mod.ts";\nexport default new Stack("mine", [${make}]);\n`,
        );
        Deno.chmodSync(file, 0o644);
        const r = await env.cli(["plan", "-s", file, "--state-root", env.ownRoot]);
        assert.equal(r.code, 1, r.stderr);
        const line = errorLine(r.stderr);
        assert.doesNotMatch(line, /does not have it/);
        assert.match(line, /^Error: web: cannot check that this kernel has .*: .*EPERM/);
        assert.match(line, /run as root \(or with CAP_BPF and CAP_NET_ADMIN\)/);
      });
    }
  });
});

Deno.test("unprivileged: EACCES on a root-owned state root is one line naming the call", async () => {
  await withNobody(async (env) => {
    const file = `${env.home}/stack.ts`;
    Deno.writeTextFileSync(
      file,
      `import { SocketLookupRedirect, Stack } from "${env.repo}mod.ts";\n` +
        `export default new Stack("mine", [${STACKS.SocketLookupRedirect}]);\n`,
    );
    Deno.chmodSync(file, 0o644);
    // plan creates nothing, so apply is what first writes to the root.
    const r = await env.cli(
      ["apply", "--auto-approve", "-s", file, "--state-root", `${env.rootOwned}/sockform`],
    );
    assert.equal(r.code, 1, r.stderr);
    const line = errorLine(r.stderr);
    assert.match(line, /^Error: mkdir '.*root-owned\/sockform.*': EACCES \(Permission denied\)/);
    assert.match(line, /sockform needs root \(or CAP_BPF and CAP_NET_ADMIN\)$/);
  });
});
