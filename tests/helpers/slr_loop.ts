/**
 * The SocketLookupRedirect loop-test rig: labs with listeners A and B, a
 * private bpffs and a stack file per test, the CLI pointed at them, and the
 * checks the loop and crash tests share (steered traffic, one link per netns,
 * exactly the declared pins, programs freed).
 *
 * @module
 */
import assert from "node:assert/strict";
import { listLinks, listPrograms, progInfo } from "../../providers/libbpf/info.ts";
import { openPin } from "../../providers/libbpf/pins.ts";
import { libc } from "../../providers/libc/ffi.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { createSlrLab, type SlrLab } from "./slr_lab.ts";
import {
  type CliOptions,
  dirEntries,
  eventually,
  expectCode,
  linksOnNetns,
  runCli,
  writeStackFile,
} from "./sockform_cli.ts";

/** What `lab.ask` answers when nothing accepted the connection. */
export const REFUSED = "ERR:ConnectionRefusedError";

/** One test's labs, state root and stack file. */
export interface Env {
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

/** The declared spec per lab: two prefixes on port 80 to listeners A and B, and optionally a third port to B. */
export function webSpec(lab: SlrLab, extraPort?: number) {
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

/**
 * `webSpec` plus a third destination `aa` (listener AA on 8082, its label
 * sorting between `a` and `b`) bound on 192.0.2.0/24:`port`: the issue-12
 * stack B, whose update from `webSpec` adds a destination.
 *
 * @example Declaring it
 * ```ts
 * env.declare((lab) => webSpecWithAa(lab, 8443));
 * ```
 */
export function webSpecWithAa(lab: SlrLab, port = 8443) {
  const base = webSpec(lab);
  return {
    ...base,
    bindings: [...base.bindings, {
      protocol: "tcp",
      prefix: "192.0.2.0/24",
      ports: port,
      to: "aa",
    }],
    destinations: { ...base.destinations, aa: { listener: "tcp://127.0.0.1:8082" } },
  };
}

/**
 * Every lab answers each `host:port` with one of the listed names (`REFUSED`
 * for a refused connection): traffic to every binding, checked in one go.
 *
 * @example After a rollback
 * ```ts
 * await assertAnswers(env, { "192.0.2.10:80": ["A"], "192.0.2.10:81": [REFUSED] }, "rollback");
 * ```
 */
export async function assertAnswers(env: Env, want: Record<string, string[]>, what: string) {
  for (const lab of env.labs) {
    for (const [target, names] of Object.entries(want)) {
      const [host, port] = target.split(":");
      const got = await lab.ask("tcp", host, Number(port));
      assert.ok(
        names.includes(got),
        `${what}: ${lab.name} ${target} answered ${got}, not ${names}`,
      );
    }
  }
}

/** `count` labs, each with listeners A (8080), B (8081) and AA (8082), a bpffs and a stack file. */
export async function withEnv(count: number, fn: (env: Env) => Promise<void>): Promise<void> {
  const labs: SlrLab[] = [];
  const fs = privateBpffs();
  const tmp = Deno.makeTempDirSync({ prefix: "sf-loop-" });
  try {
    for (let i = 0; i < count; i++) {
      const lab = await createSlrLab("loop");
      labs.push(lab);
      await lab.serve("tcp", "127.0.0.1", 8080, "A");
      await lab.serve("tcp", "127.0.0.1", 8081, "B");
      await lab.serve("tcp", "127.0.0.1", 8082, "AA");
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

/** `apply --auto-approve`, which must exit 0. */
export async function applyOk(env: Env, what = "apply") {
  expectCode(await env.cli(["apply", "--auto-approve"]), 0, what);
}

/** `plan --detailed-exitcode`, which must say "no changes" with exit 0. */
export async function planClean(env: Env, what = "plan after apply") {
  const r = await env.cli(["plan", "--detailed-exitcode"]);
  expectCode(r, 0, what);
  assert.match(r.stdout, /No changes\. The kernel matches the stack\./);
}

/** Every lab answers A on 192.0.2.10:80 and B on 198.51.100.10:80 through the program. */
export async function assertSteered(env: Env) {
  for (const lab of env.labs) {
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "A", lab.name);
    assert.equal(await lab.ask("tcp", "198.51.100.10", 80), "B", lab.name);
  }
}

/** The pins of one SocketLookupRedirect directory, sorted. */
export const PINS = ["bindings", "counters", "destinations", "link", "meta", "prog"];

/**
 * Exactly one sk_lookup link on every lab's netns (extra ones from killed runs
 * must go) and exactly the declared resource directories, each with its pins.
 */
export async function assertOneLinkEach(env: Env) {
  for (const lab of env.labs) {
    await eventually(`one link on ${lab.name}`, () => linksOnNetns(lab.ino) === 1);
  }
  const dirs = dirEntries(env.stackDir) ?? [];
  assert.equal(dirs.length, env.labs.length, `resource dirs: ${dirs}`);
  for (const dir of dirs) assert.deepEqual(dirEntries(`${env.stackDir}/${dir}`), PINS, dir);
}

/**
 * Programs this test's stack ever held: pinned under its directory or run by
 * a link on its netns. Tracked by id (not by name) so programs of tests
 * running in parallel never count.
 */
export function trackPrograms(env: Env, seen: Set<number>): void {
  const inos = new Set(env.labs.map((l) => l.ino));
  for (const l of listLinks()) if (inos.has(l.netnsIno)) seen.add(l.progId);
  for (const dir of dirEntries(env.stackDir) ?? []) {
    const fd = openPin(`${env.stackDir}/${dir}/prog`, "prog");
    if (fd === null) continue;
    try {
      seen.add(progInfo(fd).id);
    } finally {
      libc().close(fd);
    }
  }
}

/** Every tracked program is unloaded (a moment after a killed run's fds close). */
export async function assertProgramsFreed(seen: Set<number>) {
  assert.ok(seen.size > 0, "some programs were tracked");
  await eventually(
    "every program the stack held is unloaded",
    () => !listPrograms().some((p) => seen.has(p.id)),
  );
}
