import assert from "node:assert/strict";
import { describeSource, fetchRevision, pruneCheckouts, type SourceSpec } from "./source.ts";
import { programCommand } from "../providers/system/programs.ts";

async function git(cwd: string, ...args: string[]): Promise<string> {
  const out = await programCommand(["git", ...args], { cwd, stdout: "piped", stderr: "piped" })
    .output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

async function commit(repo: string, text: string): Promise<string> {
  Deno.writeTextFileSync(`${repo}/stack.ts`, text);
  await git(repo, "add", "stack.ts");
  await git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", text);
  return await git(repo, "rev-parse", "HEAD");
}

Deno.test("fetchRevision() follows a git ref: one checkout per commit, old ones pruned", async (t) => {
  const tmp = Deno.makeTempDirSync({ prefix: "sf-source-" });
  try {
    const repo = `${tmp}/repo`;
    Deno.mkdirSync(repo);
    await git(repo, "init", "-q", "-b", "main");
    const spec: SourceSpec = {
      type: "git",
      url: `file://${repo}`,
      ref: "HEAD",
      path: "stack.ts",
      cacheDir: `${tmp}/cache`,
    };
    const first = await commit(repo, "// one");
    const a = await fetchRevision(spec);
    await t.step("the remote's HEAD commit, checked out", () => {
      assert.equal(a.commit, first);
      assert.equal(Deno.readTextFileSync(a.file), "// one");
    });
    const second = await commit(repo, "// two");
    const b = await fetchRevision(spec);
    await t.step("a new commit gets its own directory; the old one stays as it was", () => {
      assert.equal(b.commit, second);
      assert.notEqual(b.file, a.file);
      assert.equal(Deno.readTextFileSync(b.file), "// two");
      assert.equal(Deno.readTextFileSync(a.file), "// one");
    });
    await t.step("pruneCheckouts() keeps only the commits asked for", async () => {
      await pruneCheckouts(spec, [second]);
      assert.throws(() => Deno.statSync(a.file), Deno.errors.NotFound);
      assert.equal(Deno.readTextFileSync(b.file), "// two");
    });
    await t.step("a ref that does not exist is one error naming git fetch", async () => {
      await assert.rejects(
        fetchRevision({ ...spec, ref: "nope" }),
        /git fetch failed: .*remote ref nope/,
      );
    });
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});

Deno.test("describeSource() never shows a URL's credentials", () => {
  const spec = (url: string): SourceSpec => ({
    type: "git",
    url,
    ref: "main",
    path: "edge/stack.ts",
    cacheDir: "/c",
  });
  assert.equal(
    describeSource(spec("https://bot:s3cret@git.example/ops.git")),
    "git:https://git.example/ops.git#main:edge/stack.ts",
  );
  assert.equal(
    describeSource(spec("git@git.example:ops.git")),
    "git:git@git.example:ops.git#main:edge/stack.ts",
  );
  assert.equal(describeSource({ type: "file", path: "/etc/s.ts" }), "file:/etc/s.ts");
});
