/**
 * deploy/Containerfile, checked without a container runtime (none on these machines): the run
 * stage installs only packages setup knows and no compiler, Deno is pinned as the README pins it,
 * the entrypoint is the agent the DaemonSet passes its arguments to, and the build context keeps
 * every module main.ts loads.
 */
import assert from "node:assert/strict";
import { programCommand } from "../providers/system/programs.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const recipe = Deno.readTextFileSync(`${ROOT}deploy/Containerfile`);
// The recipe's instructions, continuation lines joined.
const instructions = recipe.replace(/\\\n/g, " ").split("\n").filter((l) => /^[A-Z]+ /.test(l));
// Packages the image needs that start no program, so setup's list has no reason to hold them.
const NOT_PROGRAM_PACKAGES = new Set(["ca-certificates"]);

function stages(): string[][] {
  const out: string[][] = [];
  for (const line of instructions) {
    if (line.startsWith("FROM ")) out.push([]);
    out.at(-1)?.push(line);
  }
  return out;
}

function aptPackages(stage: string[]): string[] {
  return stage.flatMap((line) => {
    const m = line.match(/apt-get install ((?:-\S+ )*)([^&]+)/);
    return m ? m[2].trim().split(/\s+/) : [];
  });
}

function setupPackages(): Set<string> {
  const text = Deno.readTextFileSync(`${ROOT}scripts/debian-packages.txt`);
  return new Set(text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")));
}

Deno.test("the run stage installs setup's packages only, and no compiler", () => {
  const run = stages().at(-1)!;
  const packages = aptPackages(run);
  assert.ok(packages.includes("libbpf1"), "libbpf1 (the FFI library) is missing");
  const listed = setupPackages();
  assert.deepEqual(packages.filter((p) => !listed.has(p) && !NOT_PROGRAM_PACKAGES.has(p)), []);
  assert.deepEqual(packages.filter((p) => /clang|llvm|gcc|-dev$/.test(p)), []);
});

Deno.test("Deno comes from npm at the README's pin, and only its binary reaches the run stage", () => {
  const readme = Deno.readTextFileSync(`${ROOT}README.md`);
  const pin = readme.match(/npx -y deno@(\d+\.\d+\.\d+)/)?.[1];
  assert.ok(pin, "the README pins no Deno version");
  const [build, run] = stages();
  assert.ok(
    build.some((l) => l.includes(`npm install -g deno@${pin}`)),
    `deno@${pin} not installed`,
  );
  // Node.js and npm stay in the build stage.
  assert.ok(!aptPackages(run).some((p) => /^(nodejs|npm)$/.test(p)));
  assert.ok(
    run.includes("COPY --from=deno /usr/local/lib/node_modules/deno/deno /usr/local/bin/deno"),
  );
});

Deno.test("the entrypoint is the agent, with main.ts cached in the image", () => {
  const run = stages().at(-1)!;
  assert.ok(run.includes('ENTRYPOINT ["deno", "run", "-A", "main.ts", "agent"]'));
  assert.ok(run.includes("WORKDIR /opt/sockform"));
  assert.ok(run.some((l) => /^RUN deno cache main\.ts\b/.test(l)));
});

Deno.test("the build context (.dockerignore) keeps every local module main.ts loads", async () => {
  const ignored = Deno.readTextFileSync(`${ROOT}.dockerignore`).split("\n")
    .map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const out = await programCommand([Deno.execPath(), "info", "--json", `${ROOT}main.ts`], {
    stdout: "piped",
    cwd: ROOT,
  }).output();
  assert.ok(out.success);
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  const local = (info.modules as { specifier: string }[])
    .map((m) => m.specifier).filter((s) => s.startsWith(`file://${ROOT}`))
    .map((s) => s.slice(`file://${ROOT}`.length));
  assert.ok(local.includes("providers/libbpf/ffi.ts"));
  const lost = local.filter((path) =>
    ignored.some((pattern) =>
      pattern.startsWith("*.") ? path.endsWith(pattern.slice(1)) : path === pattern ||
        path.startsWith(`${pattern}/`)
    )
  );
  assert.deepEqual(lost, []);
});
