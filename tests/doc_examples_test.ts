/**
 * `deno test --doc` over the documented library: every file mod.ts re-exports
 * from (read from mod.ts at run time, so a new export is covered at once) plus
 * every source file under {@linkcode DOC_DIRS}. Each example must type-check,
 * and run with no permissions: one that needs a kernel is an uncalled typed
 * function marked `// needs a kernel` (see the README's "Using sockform from a
 * script"). The examples under {@linkcode CHECK_ONLY_DIRS} are type-checked only.
 *
 * @module
 */
import assert from "node:assert/strict";

/** Directories whose every source file's examples pass; add one when its examples are fixed. */
const DOC_DIRS = [
  "engine",
  "resources",
  "cli",
  "lab",
  "bpf",
  "schema",
  "providers",
  "deploy",
  "ops",
];
/** Stack files read the environment when imported, so their examples are type-checked, not run. */
const CHECK_ONLY_DIRS = ["examples"];
/** Generated code and fixtures: no examples of ours. */
const SKIP_DIRS = new Set(["testdata", "gen"]);

const ROOT = new URL("../", import.meta.url).pathname;
const canRun = Deno.permissions.querySync({ name: "run", command: Deno.execPath() }).state ===
  "granted";

/** The local files mod.ts re-exports from, as paths relative to the repo. */
function publicFiles(modText: string): string[] {
  return [...new Set([...modText.matchAll(/from "\.\/([^"]+\.ts)"/g)].map((m) => m[1]))];
}

/** The non-test source files under `dir` (relative to the repo), SKIP_DIRS left out. */
function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const e of Deno.readDirSync(`${ROOT}${dir}`)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory && !SKIP_DIRS.has(e.name)) files.push(...sourceFiles(path));
    if (e.isFile && e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) files.push(path);
  }
  return files.sort();
}

/** deno test's report without the per-example progress lines: what failed and why. */
function failures(text: string): string {
  // deno-lint-ignore no-control-regex
  const plain = text.replace(/\x1b\[[0-9;]*m/g, "");
  return plain.split("\n").filter((l) => !/^(Check |running \d+ test| *$)|\.\.\. ok/.test(l))
    .join("\n");
}

/** Runs `deno test --doc` (and `flags`) on `files` from the repo root; fails the test on a non-zero exit. */
async function docTest(flags: string[], files: string[]): Promise<void> {
  // A runnable example must need no permission, and importing mod.ts asks none.
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--doc", "--no-prompt", ...flags, ...files],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `deno test --doc failed on ${files.length} files:\n${failures(text)}`);
}

const skipped = canRun ? "" : " (skipped: needs --allow-run to start Deno)";

Deno.test({
  name: `deno test --doc passes on mod.ts, the files it re-exports from and ${
    DOC_DIRS.join(", ")
  }${skipped}`,
  ignore: !canRun,
  fn: async () => {
    const pub = publicFiles(Deno.readTextFileSync(`${ROOT}mod.ts`));
    assert.ok(pub.length > 10, `mod.ts re-exports from only ${pub.length} files: regex stale?`);
    await docTest([], [...new Set(["mod.ts", ...pub, ...DOC_DIRS.flatMap(sourceFiles)])]);
  },
});

Deno.test({
  name: `the examples under ${CHECK_ONLY_DIRS.join(", ")} type-check${skipped}`,
  ignore: !canRun,
  fn: async () => {
    await docTest(["--no-run"], CHECK_ONLY_DIRS.flatMap(sourceFiles));
  },
});
