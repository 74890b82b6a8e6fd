/**
 * The reconcile agent's policies on the real kernel (SocketLookupRedirect in
 * throwaway netns, a private bpffs): `--mode report` changes nothing and
 * reports; `--require-hitless` holds back a link that moves netns (not
 * hitless) as "awaiting approval" until a person applies; SIGHUP runs a loop
 * at once (the interval is an hour); a manual apply holding the state lock
 * makes a loop report "locked" and the next one converge; /healthz turns 503
 * while a loop is stuck waiting for that lock and 200 again once it ends.
 */
import assert from "node:assert/strict";
import { privateBpffs } from "../../lab/bpffs.ts";
import { createSlrLab, type SlrLab } from "../helpers/slr_lab.ts";
import { expectCode, linksOnNetns, runCli, writeStackFile } from "../helpers/sockform_cli.ts";
import {
  type AgentProcess,
  freePort,
  spawnAgent,
  statusWhere,
} from "../helpers/reconcile_agent.ts";
import type { ReconcileStatus } from "../../ops/reconcile_status.ts";

const HOLDER = new URL("../helpers/lock_holder.ts", import.meta.url).pathname;

interface Ctx {
  labs: [SlrLab, SlrLab];
  root: string;
  tmp: string;
  /** (Re)writes the stack file with "web" on `lab`'s netns; returns its path. */
  stackOn(lab: SlrLab): string;
  agent(...args: string[]): AgentProcess;
}

async function withCtx(fn: (c: Ctx) => Promise<void>) {
  const labs: SlrLab[] = [];
  const fs = privateBpffs();
  const tmp = Deno.makeTempDirSync({ prefix: "sf-agentp-" });
  const agents: AgentProcess[] = [];
  try {
    for (const tag of ["agp1", "agp2"]) {
      const lab = await createSlrLab(tag);
      labs.push(lab);
      await lab.serve("tcp", "127.0.0.1", 8080, tag);
    }
    const stackOn = (lab: SlrLab) =>
      writeStackFile(tmp, "agentp", [{
        name: "web",
        spec: {
          netns: lab.path,
          bindings: [{ protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "a" }],
          destinations: { a: { listener: "tcp://127.0.0.1:8080" } },
        },
      }]);
    let n = 0;
    const agent = (...args: string[]) => {
      const a = spawnAgent([...args, "--state-root", fs.root], `${tmp}/status-${n++}.json`);
      agents.push(a);
      return a;
    };
    await fn({ labs: [labs[0], labs[1]], root: fs.root, tmp, stackOn, agent });
  } finally {
    for (const a of agents) await a.stop("SIGKILL");
    for (const lab of labs) await lab.cleanup();
    fs.cleanup();
    Deno.removeSync(tmp, { recursive: true });
  }
}

/** Sends SIGHUP and waits for the loop after `loops` to be written. */
async function hup(agent: AgentProcess, loops: number): Promise<ReconcileStatus> {
  Deno.kill(agent.pid, "SIGHUP");
  return await statusWhere(agent, `loop ${loops + 1}`, (s) => s.loops > loops);
}

/** Holds the stack's lock from another process until `release()`. */
async function holdLock(root: string, tmp: string) {
  const release = `${tmp}/release`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", HOLDER, root, "agentp", `${tmp}/lock.log`, release, "manual"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  assert.equal((await reader.read()).value?.trim(), "entered");
  reader.releaseLock();
  return async () => {
    Deno.writeTextFileSync(release, "");
    await child.status;
    await child.stdout.cancel().catch(() => {});
    Deno.removeSync(release);
  };
}

Deno.test("agent --mode report: reports the pending create and changes nothing", async () => {
  await withCtx(async (c) => {
    const a = c.agent("--stack", c.stackOn(c.labs[0]), "--interval", "1s", "--mode", "report");
    const s = await statusWhere(a, "two loops", (s) => s.loops >= 2);
    assert.equal(s.lastResult, "changes-pending", a.log());
    assert.deepEqual(s.resources, { "SocketLookupRedirect.web": "drifted" });
    assert.deepEqual(s.lastPlan?.steps.map((x) => x.action), ["create"]);
    assert.equal(s.totals.applies, 0);
    assert.equal(linksOnNetns(c.labs[0].ino), 0, "nothing attached");
    assert.equal(await a.stop("SIGTERM"), 0, a.log());
  });
});

Deno.test("agent: SIGHUP runs a loop now; --require-hitless holds a netns move; a manual apply approves; a held lock is reported, never fought", async (t) => {
  await withCtx(async (c) => {
    const [lab1, lab2] = c.labs;
    const file = c.stackOn(lab1);
    const a = c.agent(
      "--stack",
      file,
      "--interval",
      "1h",
      "--require-hitless",
      "--lock-timeout",
      "1s",
    );
    let s = await statusWhere(a, "first loop", (s) => s.loops === 1);
    assert.equal(s.lastResult, "applied", a.log());
    assert.equal(await lab1.ask("tcp", "192.0.2.10", 80), "agp1");

    await t.step("a netns move is not hitless: awaiting approval, nothing moved", async () => {
      c.stackOn(lab2);
      s = await hup(a, s.loops);
      assert.equal(s.lastResult, "awaiting-approval", a.log());
      assert.deepEqual(s.awaitingApproval, ["SocketLookupRedirect.web"]);
      assert.deepEqual(s.resources, { "SocketLookupRedirect.web": "drifted" });
      assert.equal(linksOnNetns(lab1.ino), 1);
      assert.equal(linksOnNetns(lab2.ino), 0);
    });

    await t.step("a person applies it; the next loop is in sync", async () => {
      expectCode(
        await runCli(["apply", "-s", file, "--auto-approve", "--state-root", c.root]),
        0,
        "apply",
      );
      s = await hup(a, s.loops);
      assert.equal(s.lastResult, "in-sync", a.log());
      assert.deepEqual(s.awaitingApproval, []);
      assert.equal(await lab2.ask("tcp", "192.0.2.10", 80), "agp2");
    });

    await t.step(
      "a manual apply holding the lock: the loop reports locked and applies nothing",
      async () => {
        const release = await holdLock(c.root, c.tmp);
        try {
          c.stackOn(lab1);
          s = await hup(a, s.loops);
          assert.equal(s.lastResult, "locked", a.log());
          assert.equal(s.totals.locked, 1);
          assert.equal(linksOnNetns(lab1.ino), 0, "the agent did not apply under a held lock");
        } finally {
          await release();
        }
        // Back to lab1 is a netns move again: held for approval, not applied.
        s = await hup(a, s.loops);
        assert.equal(s.lastResult, "awaiting-approval", a.log());
      },
    );
    assert.equal(await a.stop("SIGTERM"), 0, a.log());
    assert.equal(linksOnNetns(lab2.ino), 1, "SIGTERM left the kernel as it was");
  });
});

async function healthz(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  await res.body?.cancel();
  return res.status;
}

/** Polls /healthz until it answers `code` (bounded; not a timing claim). */
async function healthzBecomes(port: number, code: number, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while ((await healthz(port).catch(() => 0)) !== code) {
    if (Date.now() > deadline) throw new Error(`/healthz never answered ${code} in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

Deno.test("agent /healthz: 503 while a loop waits on a held lock past 3 intervals, 200 after", async () => {
  await withCtx(async (c) => {
    const port = freePort();
    const release = await holdLock(c.root, c.tmp);
    let released = false;
    try {
      const a = c.agent(
        ...["--stack", c.stackOn(c.labs[0]), "--interval", "1s", "--lock-timeout", "1m"],
        ...["--metrics-listen", `127.0.0.1:${port}`],
      );
      await healthzBecomes(port, 503);
      assert.equal(linksOnNetns(c.labs[0].ino), 0, "still waiting: nothing applied");
      await release();
      released = true;
      const s = await statusWhere(a, "applied", (s) => s.lastGoodCommit !== null);
      assert.equal(s.lastResult, "applied", a.log());
      await healthzBecomes(port, 200);
      assert.equal(await a.stop("SIGTERM"), 0, a.log());
    } finally {
      if (!released) await release();
    }
  });
});

Deno.test("agent: a SIGHUP that arrives during a loop runs another loop right after it", async () => {
  await withCtx(async (c) => {
    const release = await holdLock(c.root, c.tmp);
    let released = false;
    try {
      const a = c.agent(
        "--stack",
        c.stackOn(c.labs[0]),
        "--interval",
        "1h",
        "--lock-timeout",
        "1m",
      );
      const deadline = Date.now() + 30_000;
      while (!a.log().includes("waiting for another sockform apply")) {
        if (Date.now() > deadline) throw new Error(`the first loop never waited:\n${a.log()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      Deno.kill(a.pid, "SIGHUP"); // mid-loop: the loop is waiting for the lock
      await release();
      released = true;
      const s = await statusWhere(a, "a second loop", (s) => s.loops >= 2);
      assert.equal(s.lastResult, "in-sync", a.log());
      assert.equal(s.totals.applies, 1, "the first loop applied once the lock was free");
      assert.equal(await a.stop("SIGTERM"), 0, a.log());
    } finally {
      if (!released) await release();
    }
  });
});
