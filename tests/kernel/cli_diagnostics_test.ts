/**
 * Diagnostics through the CLI as a black box: every problem of a stack in one
 * `validate` or `plan` run (one `Error:` line each, exit 1), and Terraform's
 * `validate -json` document. Runs against a private bpffs.
 */
import assert from "node:assert/strict";
import { privateBpffs } from "../../lab/bpffs.ts";
import { runCli } from "../helpers/sockform_cli.ts";

const MOD = new URL("../../mod.ts", import.meta.url).pathname;

/** Five problems in two resources: three in TcpTuning "tune", two in SocketLookupRedirect "web". */
const FIVE = `import { SocketLookupRedirect, Stack, TcpTuning } from "${MOD}";
export default new Stack("five", [
  new TcpTuning("tune", { cgroup: "relative/path", rules: [{ set: { synRtoMs: -1 } }] }, {
    dependsOn: ["ghost"],
  }),
  new SocketLookupRedirect("web", {
    bindings: [{ protocol: "sctp", prefix: "192.0.2.0/24", ports: 80, to: "a" }],
    destinations: { a: { listener: 7 } },
  }),
]);
`;

/** Valid specs, but neither cgroup exists: two resolve-time problems. */
const MISSING = (tag: string) =>
  `import { Stack, TcpTuning } from "${MOD}";
export default new Stack("missing", [
  new TcpTuning("one", { cgroup: "/sys/fs/cgroup/sf-none-${tag}-1", rules: [{ set: { noDelay: true } }] }),
  new TcpTuning("two", { cgroup: "/sys/fs/cgroup/sf-none-${tag}-2", rules: [{ set: { noDelay: true } }] }),
]);
`;

const GOOD = `import { Stack, TcpTuning } from "${MOD}";
export default new Stack("good", [
  new TcpTuning("tune", { cgroup: "/sys/fs/cgroup/x", rules: [{ set: { noDelay: true } }] }),
]);
`;

async function withFiles(
  bodies: Record<string, string>,
  fn: (path: (name: string) => string, root: string) => Promise<void>,
): Promise<void> {
  const fs = privateBpffs();
  const tmp = Deno.makeTempDirSync({ prefix: "sf-diag-" });
  try {
    for (const [name, body] of Object.entries(bodies)) {
      Deno.writeTextFileSync(`${tmp}/${name}`, body);
    }
    await fn((name) => `${tmp}/${name}`, fs.root);
  } finally {
    fs.cleanup();
    Deno.removeSync(tmp, { recursive: true });
  }
}

/** The `Error:` lines of stderr (progress lines start with "… "). */
function errorLines(stderr: string): string[] {
  const lines = stderr.trim().split("\n").filter((l) =>
    !l.startsWith("… ") && !l.startsWith("Download ")
  );
  for (const l of lines) assert.ok(l.startsWith("Error: "), `not an error line: ${l}\n${stderr}`);
  assert.doesNotMatch(stderr, /sockform bug/);
  return lines;
}

Deno.test("validate and plan report all five problems of two resources in one run", async () => {
  const tag = crypto.randomUUID().slice(0, 8);
  await withFiles({ "five.ts": FIVE, "missing.ts": MISSING(tag) }, async (path, root) => {
    for (const cmd of ["validate", "plan"]) {
      const r = await runCli([cmd, "-s", path("five.ts"), "--state-root", root]);
      assert.equal(r.code, 1, `${cmd}: ${r.stdout}${r.stderr}`);
      const lines = errorLines(r.stderr);
      assert.equal(lines.length, 5, `${cmd}:\n${r.stderr}`);
      for (const field of ["tune.cgroup", "tune.rules[0].set.synRtoMs", "tune.dependsOn[0]"]) {
        assert.ok(lines.some((l) => l.startsWith(`Error: ${field}: `)), `${cmd}: ${field}`);
      }
      assert.equal(lines.filter((l) => l.startsWith("Error: web.")).length, 2, r.stderr);
    }
    const json = await runCli(["validate", "--json", "-s", path("five.ts")]);
    assert.equal(json.code, 1, json.stderr);
    const doc = JSON.parse(json.stdout);
    assert.deepEqual(
      [doc.format_version, doc.valid, doc.error_count, doc.warning_count],
      ["1.0", false, 5, 0],
    );
    const addresses = doc.diagnostics.map((d: { address: string }) => d.address).sort();
    assert.deepEqual(addresses, [
      ...Array(2).fill("SocketLookupRedirect.web"),
      ...Array(3).fill("TcpTuning.tune"),
    ]);
    // Resolve-time: both missing cgroups in one plan run, read from the machine.
    const missing = await runCli([
      "plan",
      "--json",
      "-s",
      path("missing.ts"),
      "--state-root",
      root,
    ]);
    assert.equal(missing.code, 1, missing.stderr);
    const errored = JSON.parse(missing.stdout);
    assert.equal(errored.errored, true);
    assert.deepEqual(
      errored.diagnostics.map((d: { address: string; path: string }) => `${d.address}|${d.path}`),
      ["TcpTuning.one|cgroup", "TcpTuning.two|cgroup"],
    );
  });
});

Deno.test("validate --json of a good stack is valid with no diagnostics", async () => {
  await withFiles({ "good.ts": GOOD }, async (path) => {
    const r = await runCli(["validate", "--json", "-s", path("good.ts")]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      format_version: "1.0",
      valid: true,
      error_count: 0,
      warning_count: 0,
      diagnostics: [],
    });
  });
});
