/**
 * A tampered state root, through the CLI on a real TcpTuning: metadata of an
 * unknown kind, a foreign map at a sockform pin name, and pins or directories
 * whose mode someone changed. Each is reported by path, and apply (or an
 * explicit option) repairs it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { privateBpffs } from "../../lab/bpffs.ts";
import { privateCgroup } from "../helpers/tcp_tuning_lab.ts";
import { linksOnPath } from "../helpers/tcp_tuning_checks.ts";
import { dirEntries, eventually, expectCode, runCli } from "../helpers/sockform_cli.ts";
import { writeMeta } from "../../providers/state/meta.ts";

const REPO = new URL("../../", import.meta.url).pathname;

interface Env {
  root: string;
  stackDir: string;
  cgroup: string;
  file: string;
  cli(...args: string[]): ReturnType<typeof runCli>;
}

async function withDeployed(fn: (env: Env) => Promise<void>): Promise<void> {
  const fs = privateBpffs();
  const cg = privateCgroup("sf-tamper");
  const tmp = Deno.makeTempDirSync({ prefix: "sf-tamper-" });
  const file = `${tmp}/stack.ts`;
  const spec = { cgroup: cg.path, rules: [{ match: {}, set: { mark: 2 } }] };
  Deno.writeTextFileSync(
    file,
    `import { Stack, TcpTuning } from "${REPO}mod.ts";\n` +
      `export default new Stack("s", [new TcpTuning("tune", ${JSON.stringify(spec)})]);\n`,
  );
  const env: Env = {
    root: fs.root,
    stackDir: `${fs.root}/s`,
    cgroup: cg.path,
    file,
    cli: (...args) => runCli([...args, "-s", file, "--state-root", fs.root]),
  };
  try {
    expectCode(await env.cli("apply", "--auto-approve"), 0, "first apply");
    await fn(env);
  } finally {
    await runCli([
      "destroy",
      "--auto-approve",
      "--remove-corrupt",
      "-s",
      file,
      "--state-root",
      fs.root,
    ]);
    fs.cleanup();
    await eventually("no link on the cgroup", () => linksOnPath(cg.path) === 0);
    await cg.remove();
    Deno.removeSync(tmp, { recursive: true });
  }
}

function plantBogus(stackDir: string): string {
  const dir = `${stackDir}/bogus`;
  Deno.mkdirSync(dir, { mode: 0o700 });
  writeMeta(dir, { kind: "Bogus", name: "bogus", specHash: "", objectHash: "", toolVersion: "0" });
  return dir;
}

Deno.test("tamper: unknown metadata is named, destroy still removes the stack, --remove-corrupt the rest", async () => {
  await withDeployed(async (env) => {
    const bogus = plantBogus(env.stackDir);
    const plan = await env.cli("plan", "--detailed-exitcode");
    expectCode(plan, 0, "plan with a corrupt directory");
    assert.ok(plan.stderr.includes(`${bogus} is a corrupt or foreign resource`), plan.stderr);
    assert.match(plan.stderr, /"Bogus".*--remove-corrupt/);
    const show = await env.cli("show");
    expectCode(show, 0, "show");
    assert.match(show.stdout, /Bogus\.bogus: .*bogus is a corrupt or foreign resource/);

    const destroy = await env.cli("destroy", "--auto-approve");
    expectCode(destroy, 0, "destroy");
    assert.deepEqual(dirEntries(env.stackDir), ["bogus"], "the stack's own resource is gone");
    await eventually("the link is detached", () => linksOnPath(env.cgroup) === 0);

    expectCode(await env.cli("destroy", "--auto-approve", "--remove-corrupt"), 0, "remove it");
    assert.equal(dirEntries(env.stackDir), null, "the stack directory is gone");
  });
});
