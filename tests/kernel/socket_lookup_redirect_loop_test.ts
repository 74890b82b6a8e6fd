/**
 * The plan/apply loop on the real kernel through the CLI: a second plan is
 * clean, tampering is drift that apply repairs, `kill -9` and injected
 * failures during apply leave nothing a re-run cannot finish, concurrent
 * applies serialise, and destroy leaves nothing behind. Each test has its own
 * netns(es), private bpffs and temp dir, all removed in `finally`.
 */
import assert from "node:assert/strict";
import { BpfMap } from "../../providers/libbpf/map.ts";
import { listLinks, listPrograms, progInfo } from "../../providers/libbpf/info.ts";
import { openPin } from "../../providers/libbpf/pins.ts";
import { libc } from "../../providers/libc/ffi.ts";
import { describeKey, keyHex } from "../../resources/socket_lookup_redirect/entries.ts";
import { privateBpffs } from "../helpers/bpffs.ts";
import { createSlrLab, type SlrLab } from "../helpers/slr_lab.ts";
import {
  type CliOptions,
  dirEntries,
  eventually,
  expectCode,
  linksOnNetns,
  runCli,
  writeStackFile,
} from "../helpers/sockform_cli.ts";

const REFUSED = "ERR:ConnectionRefusedError";

interface Env {
  labs: SlrLab[];
  root: string;
  stackFile: string;
  /** `<root>/<stack>` */
  stackDir: string;
  /** Runs the CLI with `-s <stack file> --state-root <root>` appended. */
  cli(args: string[], opts?: CliOptions): ReturnType<typeof runCli>;
  /** Rewrites the stack file with one resource per lab (`spec(lab, i)`). */
  declare(spec: (lab: SlrLab, i: number) => unknown): void;
}

function webSpec(lab: SlrLab, extraPort?: number) {
  return {
    netns: lab.path,
    bindings: [
      { protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "a" },
      { protocol: "tcp", prefix: "198.51.100.0/24", ports: 80, to: "b" },
      ...(extraPort
        ? [{ protocol: "tcp", prefix: "192.0.2.0/24", ports: extraPort, to: "b" }]
        : []),
    ],
    destinations: {
      a: { listener: "tcp://127.0.0.1:8080" },
      b: { listener: "tcp://127.0.0.1:8081" },
    },
  };
}

/** `count` labs, each with listeners A (8080) and B (8081), a bpffs and a stack file. */
async function withEnv(count: number, fn: (env: Env) => Promise<void>): Promise<void> {
  const labs: SlrLab[] = [];
  const fs = privateBpffs();
  const tmp = Deno.makeTempDirSync({ prefix: "sf-loop-" });
  try {
    for (let i = 0; i < count; i++) {
      const lab = await createSlrLab("loop");
      labs.push(lab);
      await lab.serve("tcp", "127.0.0.1", 8080, "A");
      await lab.serve("tcp", "127.0.0.1", 8081, "B");
    }
    const name = `loop-${crypto.randomUUID().slice(0, 8)}`;
    const names = (i: number) => (count === 1 ? "web" : `web${i}`);
    const env: Env = {
      labs,
      root: fs.root,
      stackFile: "",
      stackDir: `${fs.root}/${name}`,
      cli: (args, opts) => runCli([...args, "-s", env.stackFile, "--state-root", fs.root], opts),
      declare(spec) {
        env.stackFile = writeStackFile(
          tmp,
          name,
          labs.map((lab, i) => ({ name: names(i), spec: spec(lab, i) })),
        );
      },
    };
    env.declare((lab) => webSpec(lab));
    await fn(env);
  } finally {
    for (const lab of labs) await lab.cleanup();
    fs.cleanup();
    Deno.removeSync(tmp, { recursive: true });
  }
}

async function applyOk(env: Env, what = "apply") {
  expectCode(await env.cli(["apply", "--auto-approve"]), 0, what);
}

async function planClean(env: Env, what = "plan after apply") {
  const r = await env.cli(["plan", "--detailed-exitcode"]);
  expectCode(r, 0, what);
  assert.match(r.stdout, /No changes\. The kernel matches the stack\./);
}

/** Every lab answers A on 192.0.2.10:80 and B on 198.51.100.10:80 through the program. */
async function assertSteered(env: Env) {
  for (const lab of env.labs) {
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "A", lab.name);
    assert.equal(await lab.ask("tcp", "198.51.100.10", 80), "B", lab.name);
  }
}

const PINS = ["bindings", "counters", "destinations", "link", "meta", "prog"];

/**
 * Exactly one sk_lookup link on every lab's netns (extra ones from killed runs
 * must go) and exactly the declared resource directories, each with its pins.
 */
async function assertOneLinkEach(env: Env) {
  for (const lab of env.labs) {
    await eventually(`one link on ${lab.name}`, () => linksOnNetns(lab.ino) === 1);
  }
  const dirs = dirEntries(env.stackDir) ?? [];
  assert.equal(dirs.length, env.labs.length, `resource dirs: ${dirs}`);
  for (const dir of dirs) assert.deepEqual(dirEntries(`${env.stackDir}/${dir}`), PINS, dir);
}

Deno.test("a second plan is exit 0 'no changes'", async () => {
  await withEnv(1, async (env) => {
    const first = await env.cli(["plan", "--detailed-exitcode"]);
    expectCode(first, 2, "plan before apply");
    assert.match(first.stdout, /\+ SocketLookupRedirect\.web {2}will be created/);
    const applied = await env.cli(["apply", "--auto-approve"]);
    expectCode(applied, 0, "apply");
    assert.match(applied.stdout, /Apply complete: 1 step\(s\) applied\./);
    await planClean(env);
    const again = await env.cli(["apply", "--auto-approve"]);
    expectCode(again, 0, "second apply");
    assert.match(again.stdout, /No changes\. Nothing to apply\./);
    await assertSteered(env);
  });
});

Deno.test("drift: an unpinned link is detected (exit 2) and re-attached by apply", async () => {
  await withEnv(1, async (env) => {
    const [lab] = env.labs;
    await applyOk(env);
    Deno.removeSync(`${env.stackDir}/web/link`); // the only reference: the link goes
    await eventually("link detached", () => linksOnNetns(lab.ino) === 0);
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), REFUSED);

    const r = await env.cli(["plan", "--detailed-exitcode"]);
    expectCode(r, 2, "plan after unpinning the link");
    assert.match(r.stdout, /drift ~ link: missing → attached to netns .*sk_lookup link missing/);
    await applyOk(env, "repairing apply");
    await assertOneLinkEach(env);
    await assertSteered(env);
    await planClean(env, "plan after repair");
  });
});

Deno.test("drift: deleted and foreign map entries are detected and repaired", async () => {
  await withEnv(1, async (env) => {
    const [lab] = env.labs;
    await applyOk(env);
    const map = BpfMap.openPinned(`${env.stackDir}/web/bindings`)!;
    try {
      const key = map.keys().find((k) => describeKey(keyHex(k)) === "tcp 192.0.2.0/24 port 80")!;
      assert.ok(key, "the binding's key is in the map");
      map.delete(key);
      const foreign = new Uint8Array(key);
      foreign.set([203, 0, 113, 0], 20); // tcp 203.0.113.0/24 port 80, never declared
      map.update(foreign, new Uint8Array(4));
    } finally {
      map.close();
    }
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), REFUSED, "the binding is gone");

    const r = await env.cli(["plan", "--detailed-exitcode", "--json"]);
    expectCode(r, 2, "plan --json after editing the map");
    const json = JSON.parse(r.stdout);
    assert.deepEqual(json.resource_drift.map((d: { address: string }) => d.address), [
      "SocketLookupRedirect.web",
    ]);
    const drift = json.resource_drift[0].sockform.drift as { path: string; reason: string }[];
    assert.deepEqual(drift.map((d) => [d.path, d.reason]), [
      ["bindings[0]", "1 of 1 map entr(ies) missing"],
      ["bindings", "1 map entr(ies) not declared (removed least specific last)"],
    ]);
    assert.deepEqual(json.resource_changes[0].change.actions, ["update"]);

    await applyOk(env, "repairing apply");
    await assertSteered(env);
    const after = BpfMap.openPinned(`${env.stackDir}/web/bindings`)!;
    try {
      assert.deepEqual(after.keys().map((k) => describeKey(keyHex(k))).sort(), [
        "tcp 192.0.2.0/24 port 80",
        "tcp 198.51.100.0/24 port 80",
      ]);
    } finally {
      after.close();
    }
    await planClean(env, "plan after repair");
  });
});

Deno.test("drift: a restarted listener is 'socket not in the SOCKHASH' until apply puts the new one in", async () => {
  await withEnv(1, async (env) => {
    const [lab] = env.labs;
    const first = await lab.serve("tcp", "127.0.0.1", 8082, "C1");
    env.declare((l) => ({
      ...webSpec(l),
      bindings: [
        ...webSpec(l).bindings,
        { protocol: "tcp", prefix: "192.0.2.0/24", ports: 8000, to: "c" },
      ],
      destinations: { ...webSpec(l).destinations, c: { listener: "tcp://127.0.0.1:8082" } },
    }));
    await applyOk(env);
    assert.equal(await lab.ask("tcp", "192.0.2.10", 8000), "C1");

    await first.stop();
    await lab.serve("tcp", "127.0.0.1", 8082, "C2");
    assert.equal(
      await lab.ask("tcp", "192.0.2.10", 8000),
      REFUSED,
      "the SOCKHASH lost C1's socket",
    );
    const r = await env.cli(["plan", "--detailed-exitcode"]);
    expectCode(r, 2, "plan after restarting the listener");
    assert.match(r.stdout, /destinations\.c: .*socket not in the SOCKHASH/);

    await applyOk(env, "repairing apply");
    assert.equal(await lab.ask("tcp", "192.0.2.10", 8000), "C2");
    await assertSteered(env);
    await planClean(env, "plan after repair");
  });
});

/**
 * Programs this test's stack ever held: pinned under its directory or run by
 * a link on its netns. Tracked by id (not by name) so programs of tests
 * running in parallel never count.
 */
function trackPrograms(env: Env, seen: Set<number>): void {
  const inos = new Set(env.labs.map((l) => l.ino));
  for (const l of listLinks()) if (inos.has(l.netnsIno)) seen.add(l.progId);
  for (const dir of dirEntries(env.stackDir) ?? []) {
    const fd = openPin(`${env.stackDir}/${dir}/prog`);
    if (fd === null) continue;
    try {
      seen.add(progInfo(fd).id);
    } finally {
      libc().close(fd);
    }
  }
}

async function assertProgramsFreed(seen: Set<number>) {
  assert.ok(seen.size > 0, "some programs were tracked");
  await eventually(
    "every program the stack held is unloaded",
    () => !listPrograms().some((p) => seen.has(p.id)),
  );
}

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
        assert.match(p.stdout, new RegExp(`Plan: ${3 - n} to create, 0 to update`));
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
    const lines = r.stderr.trim().split("\n").filter((l) => l.startsWith("error:"));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0],
      /^error: step "create SocketLookupRedirect\.web0" failed: injected fault \(SOCKFORM_FAULT\); rolled back \d+ change\(s\)$/,
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
    assert.match(p.stdout, /Plan: 2 to create, 0 to update, 0 to replace, 0 to delete/);
  });
});

Deno.test("two concurrent applies do not interleave", async () => {
  await withEnv(2, async (env) => {
    const [a, b] = await Promise.all([
      env.cli(["apply", "--auto-approve"]),
      env.cli(["apply", "--auto-approve"]),
    ]);
    expectCode(a, 0, "first apply");
    expectCode(b, 0, "second apply");
    const outcomes = [a.stdout, b.stdout].map((s) =>
      /Apply complete: 2 step\(s\) applied\./.test(s)
        ? "applied"
        : /No changes/.test(s)
        ? "none"
        : s
    ).sort();
    assert.deepEqual(outcomes, ["applied", "none"], "one did the work, the other found it done");
    await assertOneLinkEach(env);
    await planClean(env);
    await assertSteered(env);
  });
});

Deno.test("destroy removes the stack directory and the netns's sk_lookup link", async () => {
  await withEnv(1, async (env) => {
    const [lab] = env.labs;
    await applyOk(env);
    assert.deepEqual(dirEntries(`${env.stackDir}/web`), PINS);
    const r = await env.cli(["destroy", "--auto-approve"]);
    expectCode(r, 0, "destroy");
    assert.match(r.stdout, /Destroy complete: 1 resource\(s\) removed\./);
    assert.equal(dirEntries(env.stackDir), null);
    assert.deepEqual(dirEntries(env.root), []);
    assert.equal(linksOnNetns(lab.ino), 0, "destroy returned with the link released");
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), REFUSED);
    const again = await env.cli(["plan", "--detailed-exitcode"]);
    expectCode(again, 2, "plan after destroy");
  });
});
