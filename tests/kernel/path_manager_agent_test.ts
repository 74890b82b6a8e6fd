// A programmable PathManager's agent as kernel state, through the CLI: apply
// puts the netns in userspace mode and starts the agent; kill -9 makes plan
// exit 2 naming the agent's pid; apply starts a new one; a params change
// restarts it with the new params hash; destroy stops it and gives the netns
// its path-manager mode and limits back. Read from the kernel (sysctl,
// iproute2, /proc). Own netns and private bpffs.
import assert from "node:assert/strict";
import { TestResources } from "../helpers/netns.ts";
import type { PathManagerSpecInput } from "../../resources/path_manager.ts";
import {
  cli,
  ipLimits,
  ipPathManagerMode,
  scratch,
  writeStackFile,
} from "../helpers/path_manager.ts";
import { eventually } from "../helpers/sockform_cli.ts";
import { programCommand } from "../../providers/system/programs.ts";
import { processAlive, readProcStat } from "../../providers/mptcp_agent/identity.ts";
import { readAgentStatus } from "../../providers/mptcp_agent/status.ts";

interface ShownAgent {
  pid: number;
  health: string;
  statusFile: string;
  counters: { events: number; overflows: number; resyncs: number; handlerErrors: number } | null;
}

async function shownAgent(file: string, root: string): Promise<ShownAgent | null> {
  const r = await cli(["show", "--json", "-s", file, "--state-root", root]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).resources[0]?.details?.agent ?? null;
}

/** One single-quoted ExecStart word back to its value. */
function unitWordValue(quoted: string): string {
  return quoted.replace(/\\(.)/g, "$1").replaceAll("%%", "%").replaceAll("$$", "$");
}

function agentCmdline(pid: number): string {
  return Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ");
}

Deno.test("PathManager agent: start, kill -9 is drift, apply restarts, params restart, destroy restores", async (t) => {
  await using res = new TestResources();
  const { ns, root } = await scratch(res);
  await ns.exec(["ip", "mptcp", "limits", "set", "subflows", "1", "add_addr_accepted", "1"]);
  const modeBefore = await ipPathManagerMode(ns);
  const spec = (subflows: number): PathManagerSpecInput => ({
    netns: ns.path,
    mode: "userspace",
    limits: { subflows: 4 },
    policy: { builtin: "ndiffports", subflows },
    locals: [{ address: "10.9.0.1", id: 2 }],
  });
  let file = await writeStackFile("agt", { pm: spec(2) });
  res.defer("remove stack file", () => Deno.removeSync(file));
  const args = (cmd: string, ...more: string[]) => [cmd, ...more, "-s", file, "--state-root", root];
  const started: { pid: number; startTime: number }[] = [];
  res.defer("stop agents", () => {
    for (const a of started) if (processAlive(a.pid, a.startTime)) Deno.kill(a.pid, "SIGKILL");
  });
  const track = (pid: number) => started.push({ pid, startTime: readProcStat(pid)!.startTime });
  let agent: ShownAgent | null = null;

  await t.step("apply: userspace mode and a running agent", async () => {
    const r = await cli(args("apply", "--auto-approve"));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await ipPathManagerMode(ns), "userspace");
    assert.deepEqual(await ipLimits(ns), { subflows: 4, addAddrAccepted: 1 });
    agent = await shownAgent(file, root);
    assert.ok(agent, "show names the agent");
    track(agent.pid);
    assert.equal(agent.health, "running");
    assert.match(agentCmdline(agent.pid), /agent_main\.ts/);
    assert.equal(readAgentStatus(agent.statusFile)?.pid, agent.pid);
    assert.ok(agent.counters, "show carries the agent's counters");
    assert.equal((await cli(args("plan", "--detailed-exitcode"))).code, 0);
  });

  await t.step("kill -9: plan exits 2 naming the agent, apply starts a new one", async () => {
    const { pid } = agent!;
    const start = readProcStat(pid)!.startTime;
    Deno.kill(pid, "SIGKILL");
    await eventually(`agent ${pid} gone`, () => !processAlive(pid, start));
    const p = await cli(args("plan", "--detailed-exitcode"));
    assert.equal(p.code, 2, p.stderr);
    assert.match(p.stdout, new RegExp(`agent pid ${pid} is dead`));
    assert.equal((await cli(args("apply", "--auto-approve"))).code, 0);
    agent = await shownAgent(file, root);
    track(agent!.pid);
    assert.notEqual(agent!.pid, pid);
    assert.equal(agent!.health, "running");
    assert.equal((await cli(args("plan", "--detailed-exitcode"))).code, 0);
  });

  const restack = async (spec: PathManagerSpecInput) => {
    Deno.removeSync(file);
    file = await writeStackFile("agt", { pm: spec });
  };

  await t.step("a params change (ndiffports 2 → 3) reaches the running agent", async () => {
    const before = agent!;
    const hashBefore = readAgentStatus(before.statusFile)!.paramsHash;
    await restack(spec(3));
    const p = await cli(args("plan", "--detailed-exitcode"));
    assert.equal(p.code, 2, p.stderr);
    assert.match(p.stdout, new RegExp(`agent pid ${before.pid} runs other params`));
    assert.equal((await cli(args("apply", "--auto-approve"))).code, 0);
    agent = await shownAgent(file, root);
    assert.equal(agent!.pid, before.pid, "reloaded, not restarted");
    assert.notEqual(readAgentStatus(agent!.statusFile)!.paramsHash, hashBefore);
    assert.equal((await cli(args("plan", "--detailed-exitcode"))).code, 0);
  });

  await t.step("a policy change (ndiffports → fullmesh) restarts the agent", async () => {
    const before = agent!;
    const beforeStart = readProcStat(before.pid)!.startTime;
    await restack({ ...spec(3), policy: { builtin: "fullmesh" } });
    const p = await cli(args("plan", "--detailed-exitcode"));
    assert.equal(p.code, 2, p.stderr);
    assert.match(p.stdout, new RegExp(`agent pid ${before.pid} is outdated`));
    assert.equal((await cli(args("apply", "--auto-approve"))).code, 0);
    agent = await shownAgent(file, root);
    track(agent!.pid);
    assert.notEqual(agent!.pid, before.pid);
    assert.ok(!processAlive(before.pid, beforeStart), `old agent ${before.pid} still runs`);
    assert.equal((await cli(args("plan", "--detailed-exitcode"))).code, 0);
  });

  await t.step("agent-unit: a supervisor running the unit's command is adopted", async () => {
    const u = await cli(args("agent-unit", "pm"));
    assert.equal(u.code, 0, u.stderr);
    const exec = /^ExecStart=(.*)$/m.exec(u.stdout)?.[1] ?? "";
    const words = [...exec.matchAll(/'((?:[^'\\]|\\.)*)'/g)].map((m) => unitWordValue(m[1]));
    assert.match(words.join(" "), /agent_main\.ts/);
    const { pid } = agent!;
    const start = readProcStat(pid)!.startTime;
    Deno.kill(pid, "SIGKILL"); // what the unit's supervisor starts replaces it
    await eventually(`agent ${pid} gone`, () => !processAlive(pid, start));
    const child = programCommand(words, {
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    track(child.pid);
    res.defer("stop and reap the supervised agent", async () => {
      try {
        child.kill("SIGKILL");
      } catch { /* destroy stopped it */ }
      await child.status;
    });
    await eventually("the unit's agent reports ready", () => {
      const s = readAgentStatus(agent!.statusFile);
      return s !== undefined && s.pid === child.pid && s.state === "ready";
    }, 20_000);
    const p = await cli(args("plan", "--detailed-exitcode"));
    assert.equal(p.code, 0, p.stdout);
    agent = await shownAgent(file, root);
    assert.equal(agent!.pid, child.pid);
  });

  await t.step("destroy: no agent left, mode and limits given back", async () => {
    const { pid, statusFile } = agent!;
    const start = readProcStat(pid)!.startTime;
    const r = await cli(args("destroy", "--auto-approve"));
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!processAlive(pid, start), `agent ${pid} still runs`);
    assert.equal(readAgentStatus(statusFile), undefined, "status file removed");
    const statusDir = statusFile.slice(0, statusFile.lastIndexOf("/"));
    assert.throws(() => Deno.statSync(statusDir), Deno.errors.NotFound, "no agent files left");
    assert.equal(await ipPathManagerMode(ns), modeBefore);
    assert.deepEqual(await ipLimits(ns), { subflows: 1, addAddrAccepted: 1 });
  });
});

Deno.test("PathManager agent: a missing policy module is a plan error naming policy.module", async () => {
  await using res = new TestResources();
  const { ns, root } = await scratch(res);
  const file = await writeStackFile("agt", {
    pm: { netns: ns.path, mode: "userspace", policy: { module: "./no_such_policy.ts" } },
  });
  res.defer("remove stack file", () => Deno.removeSync(file));
  const r = await cli(["plan", "-s", file, "--state-root", root]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /pm\.policy\.module: policy module \/.*\/no_such_policy\.ts does not exist/,
  );
});

Deno.test("PathManager agent: a module without the policy API fails apply naming policy.module, and the netns is given back", async () => {
  await using res = new TestResources();
  const { ns, root } = await scratch(res);
  const modeBefore = await ipPathManagerMode(ns);
  const dir = await Deno.makeTempDir({ prefix: "sf-pm-policy-" });
  res.defer("remove policy dir", () => Deno.removeSync(dir, { recursive: true }));
  Deno.writeTextFileSync(`${dir}/not_a_policy.ts`, "export const nothing = 1;\n");
  const file = await writeStackFile("agt", {
    pm: { netns: ns.path, mode: "userspace", policy: { module: `${dir}/not_a_policy.ts` } },
  });
  res.defer("remove stack file", () => Deno.removeSync(file));
  const r = await cli(["apply", "--auto-approve", "-s", file, "--state-root", root]);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, /policy\.module/);
  assert.match(r.stderr, /not_a_policy\.ts/);
  assert.equal(await ipPathManagerMode(ns), modeBefore, "the failed create rolled the mode back");
  const p = await cli(["plan", "--detailed-exitcode", "-s", file, "--state-root", root]);
  assert.equal(p.code, 2, "nothing deployed: the plan still creates it");
});

Deno.test("PathManager agent: a module's params reload it, an edited module restarts it", async () => {
  await using res = new TestResources();
  const { ns, root } = await scratch(res);
  const dir = await Deno.makeTempDir({ prefix: "sf-pm-policy-" });
  res.defer("remove policy dir", () => Deno.removeSync(dir, { recursive: true }));
  const module = `${dir}/quiet.ts`;
  const body = (name: string) =>
    `export const createPolicy = () => ({ name: "${name}", onEvent: () => [] });\n`;
  Deno.writeTextFileSync(module, body("quiet"));
  const stack = (n: number) =>
    writeStackFile("agm", {
      pm: { netns: ns.path, mode: "userspace", policy: { module, params: { n } } },
    });
  let file = await stack(1);
  res.defer("remove stack file", () => Deno.removeSync(file));
  const args = (cmd: string, ...more: string[]) => [cmd, ...more, "-s", file, "--state-root", root];
  res.defer("destroy", async () => void await cli(args("destroy", "--auto-approve")));
  assert.equal((await cli(args("apply", "--auto-approve"))).code, 0);
  const first = (await shownAgent(file, root))!.pid;

  Deno.removeSync(file);
  file = await stack(2);
  const reload = await cli(args("plan", "--detailed-exitcode"));
  assert.equal(reload.code, 2);
  assert.match(reload.stdout, new RegExp(`agent pid ${first} runs other params`));
  assert.equal((await cli(args("apply", "--auto-approve"))).code, 0);
  assert.equal((await shownAgent(file, root))!.pid, first, "params of a module: reloaded");

  Deno.writeTextFileSync(module, body("quieter"));
  const edited = await cli(args("plan", "--detailed-exitcode"));
  assert.equal(edited.code, 2);
  assert.match(edited.stdout, new RegExp(`agent pid ${first} is outdated`));
  assert.equal((await cli(args("apply", "--auto-approve"))).code, 0);
  const second = (await shownAgent(file, root))!.pid;
  assert.notEqual(second, first, "an edited module: restarted");
  assert.equal((await cli(args("plan", "--detailed-exitcode"))).code, 0);
});
