import assert from "node:assert/strict";
import { generateAll, listHooks, REPO_ROOT } from "./build.ts";

const STALE = "stale generated BPF: run deno task bpf:build";

// Rebuilding needs to run clang; under `deno test --allow-read` it cannot, so say why instead.
const canRun = Deno.permissions.querySync({ name: "run" }).state === "granted";
const canRunReason = "skipped: needs --allow-run to rebuild with clang-19";

Deno.test("every bpf/*.bpf.c has a generated module", () => {
  const missing = listHooks(REPO_ROOT).filter((hook) => !exists(`bpf/gen/${hook}.ts`));
  assert.deepEqual(missing, [], `${STALE} (no module for: ${missing.join(", ")})`);
});

Deno.test({
  name: `bpf/gen/*.ts match a fresh build of bpf/*.bpf.c${canRun ? "" : ` (${canRunReason})`}`,
  ignore: !canRun,
  fn: async () => {
    const fresh = await generateAll(REPO_ROOT);
    for (const file of fresh) {
      const committed = readOrEmpty(file.path);
      assert.ok(committed === file.text, `${STALE} (${file.path} differs)`);
    }
    const expected = new Set(fresh.map((f) => `${f.hook}.ts`));
    const orphans = generatedNames().filter((name) => !expected.has(name));
    assert.deepEqual(orphans, [], `${STALE} (no source for bpf/gen/${orphans.join(", ")})`);
  },
});

Deno.test("generated modules hold a BPF object whose hash and names match", async (t) => {
  for (const name of generatedNames()) {
    await t.step(name, async () => {
      const mod = await import(`./gen/${name}`);
      assert.equal(mod.source, `bpf/${name.replace(/\.ts$/, "")}.bpf.c`);
      assert.deepEqual(Array.from(mod.object.subarray(0, 4)), [0x7f, 0x45, 0x4c, 0x46]);
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", mod.object));
      const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
      assert.equal(mod.objectHash, hex, `${STALE} (${name}: objectHash does not match object)`);
      assert.ok(Object.keys(mod.programs).length > 0, `${name} exports no programs`);
      for (const [key, value] of Object.entries({ ...mod.programs, ...mod.maps })) {
        assert.equal(key, value);
      }
    });
  }
});

function generatedNames(): string[] {
  return [...Deno.readDirSync(`${REPO_ROOT}/bpf/gen`)]
    .filter((e) => e.isFile && e.name.endsWith(".ts"))
    .map((e) => e.name)
    .sort();
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(`${REPO_ROOT}/${path}`).isFile;
  } catch {
    return false;
  }
}

function readOrEmpty(path: string): string {
  try {
    return Deno.readTextFileSync(`${REPO_ROOT}/${path}`);
  } catch {
    return "";
  }
}
