/**
 * Hostile or broken stack files, through the CLI as a black box: each ends in
 * one clear `Error:` line naming the file and exit 1, and none of them escapes
 * the state root. Runs `validate` and `plan` against a private bpffs.
 */
import assert from "node:assert/strict";
import { privateBpffs } from "../../lab/bpffs.ts";
import { runCli } from "../helpers/sockform_cli.ts";

/** Writes `body` as `<tmp>/stack.ts`, runs the CLI with `args` on it, cleans up. */
async function withStackFile(
  body: string,
  fn: (file: string, root: string) => Promise<void>,
): Promise<void> {
  const fs = privateBpffs();
  const tmp = Deno.makeTempDirSync({ prefix: "sf-stackfile-" });
  try {
    const file = `${tmp}/stack.ts`;
    Deno.writeTextFileSync(file, body);
    await fn(file, fs.root);
  } finally {
    fs.cleanup();
    Deno.removeSync(tmp, { recursive: true });
  }
}

/** The one non-progress stderr line, checked to be a single `Error:` line without a trace. */
function errorLine(stderr: string): string {
  const lines = stderr.trim().split("\n").filter((l) =>
    !l.startsWith("… ") && !l.startsWith("Download ")
  );
  assert.equal(lines.length, 1, `expected one error line, got:\n${stderr}`);
  assert.ok(lines[0].startsWith("Error: "), lines[0]);
  assert.doesNotMatch(stderr, /sockform bug/);
  return lines[0];
}

Deno.test("a stack file whose top-level await never resolves times out with an error naming it", async () => {
  const body = "setInterval(() => {}, 1000);\nawait new Promise(() => {});\n";
  await withStackFile(body, async (file, root) => {
    const r = await runCli(["plan", "-s", file, "--state-root", root], {
      env: { SOCKFORM_STACK_TIMEOUT_MS: "500" },
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      errorLine(r.stderr),
      /stack file .*stack\.ts did not finish loading within 0\.5 s/,
    );
  });
});

Deno.test("a stack file that throws a non-Error gets a description, not [object Object]", async () => {
  await withStackFile('throw { code: 7, why: "nope" };\n', async (file) => {
    const r = await runCli(["validate", "-s", file]);
    assert.equal(r.code, 1, r.stderr);
    const line = errorLine(r.stderr);
    assert.doesNotMatch(line, /\[object Object\]/);
    assert.match(line, /cannot load stack file .*stack\.ts: it threw \{ code: 7, why: "nope" \}/);
  });
  await withStackFile("throw {};\n", async (file) => {
    const r = await runCli(["validate", "-s", file]);
    assert.match(errorLine(r.stderr), /it threw \{\} \(not an Error\)/);
  });
});

Deno.test("Deno.exit(0) in a stack file is trapped: exit 1 with an error naming the file", async () => {
  await withStackFile("Deno.exit(0);\n", async (file, root) => {
    for (const cmd of ["validate", "plan"]) {
      const r = await runCli([cmd, "-s", file, "--state-root", root]);
      assert.equal(r.code, 1, `${cmd}: ${r.stdout}${r.stderr}`);
      assert.match(
        errorLine(r.stderr),
        /stack file .*stack\.ts called Deno\.exit\(0\) while loading/,
      );
    }
  });
  const caught = "try { Deno.exit(3); } catch { /* swallowed */ }\nexport default 1;\n";
  await withStackFile(caught, async (file) => {
    const r = await runCli(["validate", "-s", file]);
    assert.match(errorLine(r.stderr), /called Deno\.exit\(3\) while loading/);
  });
});

/** Removes `path` if it is a directory; true when it was. */
function removeIfDir(path: string): boolean {
  try {
    if (!Deno.statSync(path).isDirectory) return false;
  } catch {
    return false;
  }
  Deno.removeSync(path, { recursive: true });
  return true;
}

Deno.test("a duck-typed stack named ../../x is refused and creates nothing outside the state root", async () => {
  const escape = `sf-escape-${crypto.randomUUID().slice(0, 8)}`;
  const duck = (name: string, resource: string) =>
    `const r = { kind: "SocketLookupRedirect", name: ${JSON.stringify(resource)}, spec: {}, ` +
    `dependsOn: [], diff: () => [] };\n` +
    `export default { name: ${JSON.stringify(name)}, resources: [r], ordered: () => [r], ` +
    `validate() {} };\n`;
  await withStackFile(duck(`../../${escape}`, "web"), async (file, root) => {
    const r = await runCli(["plan", "-s", file, "--state-root", root]);
    const outside = `${root}/../../${escape}`;
    const made = removeIfDir(outside);
    assert.equal(made, false, `${outside} was created`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(errorLine(r.stderr), /stack name "\.\.\/\.\.\/sf-escape-.*" must match/);
  });
  await withStackFile(duck("ok", "../../web"), async (file, root) => {
    const r = await runCli(["plan", "-s", file, "--state-root", root]);
    assert.match(errorLine(r.stderr), /\.\.\/\.\.\/web\.name: must match/);
  });
});

Deno.test("a saved plan with a numeric stackFile is one error naming the field", async () => {
  await withStackFile("export default 1;\n", async (file, root) => {
    const planFile = file.replace(/stack\.ts$/, "plan.json");
    const token = "0".repeat(64);
    const saved = { format: "sockform-plan/1", stackFile: 7, stack: "x", stateRoot: root, token };
    Deno.writeTextFileSync(planFile, JSON.stringify({ ...saved, steps: [], plan: {} }));
    const r = await runCli(["apply", planFile]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(errorLine(r.stderr), /saved plan .*plan\.json is malformed: stackFile: /);
  });
});
