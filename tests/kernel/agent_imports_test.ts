/**
 * The reconcile agent on a file source whose stack imports a local module: an edit to that
 * module cannot be re-imported by the running process, so the agent must not keep planning the
 * old code as "in-sync". It reports the changed file, exits 75 for its supervisor, and the
 * restarted agent applies the new code (SocketLookupRedirect moved to the other netns, read
 * from the kernel's links).
 */
import assert from "node:assert/strict";
import { privateBpffs } from "../../lab/bpffs.ts";
import { createSlrLab, type SlrLab } from "../helpers/slr_lab.ts";
import { linksOnNetns } from "../helpers/sockform_cli.ts";
import { type AgentProcess, spawnAgent, statusWhere } from "../helpers/reconcile_agent.ts";

const MOD = new URL("../../mod.ts", import.meta.url).href;

function writeStack(dir: string): string {
  const spec = `{
    netns,
    bindings: [{ protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "a" }],
    destinations: { a: { listener: "tcp://127.0.0.1:8080" } },
  }`;
  Deno.writeTextFileSync(
    `${dir}/stack.ts`,
    [
      `import { SocketLookupRedirect, Stack } from "${MOD}";`,
      `import { netns } from "./target.ts";`,
      `export default new Stack("agenti", [new SocketLookupRedirect("web", ${spec})]);`,
      "",
    ].join("\n"),
  );
  return `${dir}/stack.ts`;
}

function writeTarget(dir: string, lab: SlrLab): void {
  Deno.writeTextFileSync(`${dir}/target.ts`, `export const netns = ${JSON.stringify(lab.path)};\n`);
}

Deno.test("agent, file source: an edited imported module is reported, the agent exits 75, and its restart applies the new code", async () => {
  const fs = privateBpffs();
  const tmp = Deno.makeTempDirSync({ prefix: "sf-agenti-" });
  const labs: SlrLab[] = [];
  const agents: AgentProcess[] = [];
  const agent = (n: number) => {
    const args = ["--stack", `${tmp}/stack.ts`, "--interval", "1s", "--state-root", fs.root];
    const a = spawnAgent(args, `${tmp}/status-${n}.json`);
    agents.push(a);
    return a;
  };
  try {
    for (const tag of ["agi1", "agi2"]) {
      const lab = await createSlrLab(tag);
      labs.push(lab);
      await lab.serve("tcp", "127.0.0.1", 8080, tag);
    }
    writeTarget(tmp, labs[0]);
    writeStack(tmp);
    const first = agent(1);
    await statusWhere(first, "applied on netns 1", (s) => s.totals.applies === 1);
    assert.equal(linksOnNetns(labs[0].ino), 1, first.log());
    writeTarget(tmp, labs[1]);
    const s = await statusWhere(first, "restart needed", (s) => (s.restartNeeded?.length ?? 0) > 0);
    assert.deepEqual(s.restartNeeded, [`${tmp}/target.ts`]);
    assert.match(s.lastError?.message ?? "", /target\.ts.*exits \(code 75\)/);
    assert.equal(await first.stop(), 75, first.log());
    assert.equal(linksOnNetns(labs[1].ino), 0, "the old process never applied the edit");
    const second = agent(2);
    await statusWhere(second, "applied on netns 2", (s) => s.totals.applies === 1);
    assert.equal(linksOnNetns(labs[1].ino), 1, second.log());
    assert.equal(linksOnNetns(labs[0].ino), 0, "moved off netns 1");
    assert.equal(await second.stop(), 0, second.log());
  } finally {
    for (const a of agents) await a.stop("SIGKILL");
    for (const lab of labs) await lab.cleanup();
    fs.cleanup();
    Deno.removeSync(tmp, { recursive: true });
  }
});
