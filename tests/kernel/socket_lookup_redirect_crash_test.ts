/**
 * Crashes and failures in the middle of apply and destroy, on the real
 * kernel through the CLI. `SOCKFORM_FAULT` stops a run after a whole step
 * (`*-after:N`) or right after any single kernel change inside a step
 * (`*-at-change:N`), by an injected failure (the run must roll back to
 * exactly what was there) or by SIGKILL (a re-run must converge, and nothing
 * may leak). Each test has its own netns(es), private bpffs and temp dir.
 */
import assert from "node:assert/strict";
import {
  type CliResult,
  dirEntries,
  eventually,
  expectCode,
  linksOnNetns,
} from "../helpers/sockform_cli.ts";
import {
  applyOk,
  assertAnswers,
  assertOneLinkEach,
  assertProgramsFreed,
  assertSteered,
  type Env,
  planClean,
  REFUSED,
  trackPrograms,
  webSpec,
  webSpecWithAa,
  withEnv,
} from "../helpers/slr_loop.ts";
import { killAtEveryChange } from "../helpers/faults.ts";

Deno.test("kill -9 at any step of apply or destroy: a re-run converges and nothing leaks", async (t) => {
  await withEnv(3, async (env) => {
    const seen = new Set<number>();
    const killAfter = async (cmd: string, n: number) => {
      const r = await env.cli([cmd, "--auto-approve"], {
        env: { SOCKFORM_FAULT: `kill-after:${n}` },
      });
      assert.equal(r.signal, "SIGKILL", `${cmd} kill-after:${n} was killed\n${r.stderr}`);
      trackPrograms(env, seen); // what the killed run left behind
    };
    const converge = async (what: string) => {
      await applyOk(env, what);
      trackPrograms(env, seen);
      await planClean(env);
      await assertOneLinkEach(env);
      await assertSteered(env);
    };
    const destroyAll = async () => {
      expectCode(await env.cli(["destroy", "--auto-approve"]), 0, "converging destroy");
      assert.equal(dirEntries(env.stackDir), null, "the stack directory is gone");
      for (const lab of env.labs) {
        await eventually(`no link on ${lab.name}`, () => linksOnNetns(lab.ino) === 0);
      }
      await assertProgramsFreed(seen);
    };
    for (const n of [1, 2]) {
      await t.step(`create and destroy, killed after step ${n}`, async () => {
        await killAfter("apply", n);
        const p = await env.cli(["plan", "--detailed-exitcode"]);
        expectCode(p, 2, "plan after the kill");
        assert.match(p.stdout, new RegExp(`Plan: ${3 - n} to add, 0 to change`));
        await converge("converging apply");
        await killAfter("destroy", n);
        await destroyAll();
      });
    }
    await t.step("update, killed after step 1", async () => {
      await applyOk(env);
      env.declare((lab) => webSpec(lab, 8443));
      await killAfter("apply", 1);
      await converge("converging apply");
      for (const lab of env.labs) assert.equal(await lab.ask("tcp", "192.0.2.10", 8443), "B");
      await destroyAll();
    });
  });
});

Deno.test("fail-after:1 rolls back: exit 1, the error names the step, the kernel is unchanged", async () => {
  await withEnv(2, async (env) => {
    const r = await env.cli(["apply", "--auto-approve"], {
      env: { SOCKFORM_FAULT: "fail-after:1" },
    });
    expectCode(r, 1, "apply with fail-after:1");
    const lines = r.stderr.trim().split("\n").filter((l) => l.startsWith("Error:"));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0],
      /^Error: step "create SocketLookupRedirect\.web0" failed: injected fault \(SOCKFORM_FAULT\); rolled back \d+ change\(s\)$/,
    );
    assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
    for (const lab of env.labs) {
      // The rollback waited for the release: the link is already gone.
      assert.equal(linksOnNetns(lab.ino), 0, `no link on ${lab.name}`);
      assert.equal(await lab.ask("tcp", "192.0.2.10", 80), REFUSED);
    }
    assert.deepEqual(dirEntries(env.stackDir) ?? [], [], "the state directory is empty");
    const p = await env.cli(["plan", "--detailed-exitcode"]);
    expectCode(p, 2, "plan after the rollback");
    assert.match(p.stdout, /Plan: 2 to add, 0 to change, 0 to destroy\./);
  });
});

/** The one `Error:` line of a failed run (no stack trace). */
function errorLine(r: CliResult): string {
  const lines = r.stderr.trim().split("\n").filter((l) => l.startsWith("Error:"));
  assert.equal(lines.length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
  return lines[0];
}

const runWithFault = (env: Env, cmd: string, fault: string) =>
  env.cli([cmd, "--auto-approve"], { env: { SOCKFORM_FAULT: fault } });

/**
 * Runs `cmd` with `fail-at-change:N` for N = 1, 2, … until a run makes fewer
 * than N changes and succeeds; after each failed run, `unchanged` checks the
 * kernel. Returns how many changes the command makes.
 */
async function failCliAtEveryChange(
  env: Env,
  cmd: "apply" | "destroy",
  unchanged: (n: number) => Promise<void>,
): Promise<number> {
  for (let n = 1;; n++) {
    const r = await runWithFault(env, cmd, `fail-at-change:${n}`);
    if (r.code === 0) return n - 1;
    expectCode(r, 1, `${cmd} with fail-at-change:${n}`);
    assert.match(
      errorLine(r),
      new RegExp(
        `^Error: step "\\w+ SocketLookupRedirect\\.web" failed: injected fault \\(SOCKFORM_FAULT\\) ` +
          `at change ${n} \\(.+\\); rolled back \\d+ change\\(s\\)$`,
      ),
    );
    await unchanged(n);
  }
}

/** The kernel holds `env`'s declared stack: one link, every pin, steered, a clean plan. */
async function assertApplied(env: Env, what: string) {
  await assertOneLinkEach(env);
  await assertSteered(env);
  await planClean(env, what);
}

const EXTRA_PORT = 8443;
/** Issue 12's stack B: a third destination `aa` on 192.0.2.0/24:8443 (ids renumber by label). */
const withExtraPort = (env: Env) => env.declare((lab) => webSpecWithAa(lab, EXTRA_PORT));
const withoutExtraPort = (env: Env) => env.declare((lab) => webSpec(lab));

/** Traffic to every binding of either stack: `extra` is what 192.0.2.10:8443 may answer. */
const everyBinding = (extra: string[]) => ({
  "192.0.2.10:80": ["A"],
  "198.51.100.10:80": ["B"],
  [`192.0.2.10:${EXTRA_PORT}`]: extra,
});

Deno.test("a failure at any kernel change of create, update or destroy rolls back exactly", async (t) => {
  await withEnv(1, async (env) => {
    const [lab] = env.labs;
    await t.step("create: nothing is left, not even for a moment after exit", async () => {
      const changes = await failCliAtEveryChange(env, "apply", async (n) => {
        assert.equal(linksOnNetns(lab.ino), 0, `change ${n}: no link`);
        assert.deepEqual(dirEntries(env.stackDir) ?? [], [], `change ${n}: no state`);
        assert.equal(await lab.ask("tcp", "192.0.2.10", 80), REFUSED);
      });
      // The directory (its undo removes every pin inside) and six pins.
      assert.ok(changes >= 7, `create makes ${changes} change(s)`);
      await assertApplied(env, "plan after the create that went through");
    });
    await t.step("update adding a destination: every binding answers as before", async () => {
      withExtraPort(env);
      const changes = await failCliAtEveryChange(env, "apply", async (n) => {
        await assertAnswers(env, everyBinding([REFUSED]), `rolled back at change ${n}`);
        withoutExtraPort(env);
        await assertApplied(env, `plan of the old stack after fail-at-change:${n}`);
        withExtraPort(env);
      });
      assert.ok(changes >= 5, `update makes ${changes} change(s)`);
      await assertAnswers(env, everyBinding(["AA"]), "after the update that went through");
      await assertApplied(env, "plan after the update that went through");
    });
    await t.step("update removing a destination (issue 12 bug 3): no socket is lost", async () => {
      withoutExtraPort(env);
      const changes = await failCliAtEveryChange(env, "apply", async (n) => {
        await assertAnswers(env, everyBinding(["AA"]), `rolled back at change ${n}`);
        withExtraPort(env);
        await assertApplied(env, `plan of the old stack after fail-at-change:${n}`);
        withoutExtraPort(env);
      });
      assert.ok(changes >= 2, `update makes ${changes} change(s)`);
      await assertAnswers(env, everyBinding([REFUSED]), "after the update that went through");
      withExtraPort(env);
      await applyOk(env, "back to the stack with aa");
    });
    await t.step("destroy: everything stays in place and keeps steering", async () => {
      const changes = await failCliAtEveryChange(env, "destroy", async (n) => {
        await assertApplied(env, `plan after destroy with fail-at-change:${n}`);
      });
      assert.ok(changes >= 7, `destroy makes ${changes} change(s)`);
      assert.equal(dirEntries(env.stackDir), null);
      assert.equal(linksOnNetns(lab.ino), 0);
    });
  });
});

Deno.test("kill -9 at any kernel change of create, update or destroy: a re-run converges, nothing leaks", async (t) => {
  await withEnv(1, async (env) => {
    const [lab] = env.labs;
    const seen = new Set<number>();
    const destroyOk = async () => {
      expectCode(await env.cli(["destroy", "--auto-approve"]), 0, "destroy");
      assert.equal(dirEntries(env.stackDir), null, "the stack directory is gone");
      await eventually("no link on the netns", () => linksOnNetns(lab.ino) === 0);
    };
    const applyTracked = async (what: string) => {
      trackPrograms(env, seen); // what the killed run left behind
      await applyOk(env, what);
      trackPrograms(env, seen);
      await assertApplied(env, `plan after ${what}`);
    };
    await t.step("create", async () => {
      const changes = await killAtEveryChange((fault) => runWithFault(env, "apply", fault), {
        converge: () => applyTracked("the apply after a killed create"),
        reset: destroyOk,
      });
      // The directory, six pins and the link attach.
      assert.ok(changes >= 8, `create makes ${changes} change(s)`);
    });
    await t.step("update adding a destination", async () => {
      withExtraPort(env);
      const changes = await killAtEveryChange((fault) => runWithFault(env, "apply", fault), {
        converge: async (n) => {
          // What the kill left must route every binding to its old or new listener.
          await assertAnswers(env, everyBinding(["AA", REFUSED]), `killed at change ${n}`);
          await applyTracked("the apply after a killed update");
          await assertAnswers(env, everyBinding(["AA"]), "after the re-run");
        },
        reset: async () => {
          withoutExtraPort(env);
          await applyOk(env, "back to the old stack");
          withExtraPort(env);
        },
      });
      assert.ok(changes >= 5, `update makes ${changes} change(s)`);
    });
    await t.step("destroy", async () => {
      trackPrograms(env, seen);
      const changes = await killAtEveryChange((fault) => runWithFault(env, "destroy", fault), {
        converge: destroyOk,
        reset: () => applyTracked("the apply that re-creates the stack"),
      });
      // The recorded change, then each of the six pins.
      assert.ok(changes >= 7, `destroy makes ${changes} change(s)`);
      assert.equal(dirEntries(env.stackDir), null);
      await assertProgramsFreed(seen);
    });
  });
});
