import assert from "node:assert/strict";

// A script outside the repo gets none of deno.json's import map: every module
// reachable from mod.ts must resolve on its own (see deps.ts).
const canRun = Deno.permissions.querySync({ name: "run" }).state === "granted";
const MOD = new URL("./mod.ts", import.meta.url).pathname;

const SCRIPT = `
import { kernelStore, plan, SocketLookupRedirect, SpecError, Stack, UserError } from ${
  JSON.stringify(MOD)
};

const web = new SocketLookupRedirect("web", {
  bindings: [{ protocol: "tcp", prefix: "127.1.0.0/16", ports: "all", to: "proxy" }],
  destinations: { proxy: { listener: "tcp://127.0.0.1:9000" } },
});
const stack = new Stack("edge", [web]);
let specError = "none";
try {
  new SocketLookupRedirect("bad", {
    bindings: [{ protocol: "tcp", prefix: "10.0.0.0/33", ports: 80, to: "proxy" }],
    destinations: { proxy: { listener: "tcp://127.0.0.1:9000" } },
  });
} catch (e) {
  specError = e instanceof SpecError ? "SpecError" : String(e);
}
let planError = "none";
try {
  await plan(stack, kernelStore(Deno.cwd()));
} catch (e) {
  planError = e instanceof UserError ? "UserError" : String(e);
}
console.log(JSON.stringify({ stack: stack.name, resources: stack.resources.length, specError, planError }));
`;

Deno.test({
  name: `a script outside the repo imports mod.ts by path and runs without --config${
    canRun ? "" : " (skipped: needs --allow-run to start Deno)"
  }`,
  ignore: !canRun,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "sockform-import-" });
    try {
      await Deno.writeTextFile(`${dir}/use_sockform.ts`, SCRIPT);
      // cwd is the temp dir, so Deno finds no deno.json and applies no import map.
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-prompt", "use_sockform.ts"],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `the script failed:\n${stderr}`);
      const result = JSON.parse(new TextDecoder().decode(out.stdout));
      // The state root (the temp dir) is not on bpffs: plan refuses it as a
      // user error, which proves the engine ran without touching the kernel.
      assert.deepEqual(result, {
        stack: "edge",
        resources: 1,
        specError: "SpecError",
        planError: "UserError",
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("deps.ts pins each package at the version deno.json's import map names", () => {
  const config = JSON.parse(Deno.readTextFileSync(new URL("./deno.json", import.meta.url)));
  const deps = Deno.readTextFileSync(new URL("./deps.ts", import.meta.url));
  const specifiers = [...deps.matchAll(/from "(npm:(@?[^@"]+)@[^"]+)"/g)];
  assert.ok(specifiers.length > 0, "deps.ts names no npm: specifier");
  for (const [, specifier, name] of specifiers) {
    assert.equal(specifier, config.imports[name], `deps.ts and deno.json disagree on ${name}`);
  }
});

Deno.test({
  name: `deno doc --lint mod.ts finds nothing to fix${
    canRun ? "" : " (skipped: needs --allow-run to start Deno)"
  }`,
  ignore: !canRun,
  fn: async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["doc", "--lint", MOD],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, `deno doc --lint mod.ts:\n${text}`);
  },
});
