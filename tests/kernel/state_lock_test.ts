/**
 * The stack lock across a destroy that removes the stack directory, with real
 * processes: a writer waiting on the old directory and a newcomer that finds
 * a fresh one must still take turns. Also: a failed plan or apply leaves no
 * stack directory behind. And the CLI's `--lock-timeout` (Terraform's
 * semantics, default 0s): it gives up naming the holder.
 *
 * @module
 */
import assert from "node:assert/strict";
import { privateBpffs } from "../../lab/bpffs.ts";
import { kernelStore } from "../../providers/state/kernel_store.ts";
import { applyStack, destroyStack } from "../../engine/session.ts";
import { plan } from "../../engine/plan.ts";
import { Stack } from "../../engine/stack.ts";
import { TcpTuning } from "../../resources/tcp_tuning.ts";
import { pathExists } from "../../providers/state/pin_dir.ts";
import { eventually, runCli, writeStackFile } from "../helpers/sockform_cli.ts";

const HOLDER = new URL("../helpers/lock_holder.ts", import.meta.url).pathname;

interface Writer {
  out: () => string;
  err: () => string;
  done: Promise<Deno.CommandStatus>;
  pid: number;
}

function collect(stream: ReadableStream<Uint8Array>): () => string {
  let text = "";
  (async () => {
    const dec = new TextDecoder();
    for await (const chunk of stream) text += dec.decode(chunk);
  })();
  return () => text;
}

function startWriter(root: string, log: string, release: string, tag: string): Writer {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", HOLDER, root, "s", log, release, tag],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return {
    out: collect(child.stdout),
    err: collect(child.stderr),
    done: child.status,
    pid: child.pid,
  };
}

const waiting = (w: Writer) => w.err().includes("waiting for another sockform apply");
const entered = (w: Writer) => w.out().includes("entered");

Deno.test("lock: a writer waiting through a destroy and a newcomer never hold it at once", async () => {
  const fs = privateBpffs();
  const tmp = Deno.makeTempDirSync({ prefix: "sf-lock-" });
  const log = `${tmp}/log`;
  const release = `${tmp}/release`;
  Deno.writeTextFileSync(log, "");
  const writers: Writer[] = [];
  try {
    const store = kernelStore(fs.root);
    // Something for destroy to delete, so it asks for confirmation under the lock.
    Deno.mkdirSync(`${store.openStack("s")}/leftover`, { mode: 0o700 });
    await destroyStack(new Stack("s", []), store, {
      confirm: async () => {
        writers.push(startWriter(fs.root, log, release, "first"));
        await eventually("the first writer waits for destroy", () => waiting(writers[0]), 30_000);
        return true;
      },
    });
    await eventually("the first writer gets the lock", () => entered(writers[0]), 30_000);
    writers.push(startWriter(fs.root, log, release, "second"));
    await eventually(
      "the second writer waits or (the bug) gets in",
      () => waiting(writers[1]) || entered(writers[1]),
      30_000,
    );
    Deno.writeTextFileSync(release, "");
    for (const w of writers) assert.equal((await w.done).code, 0, w.err());
    const lines = Deno.readTextFileSync(log).trim().split("\n");
    assert.deepEqual(lines, ["enter first", "exit first", "enter second", "exit second"]);
  } finally {
    Deno.writeTextFileSync(release, "");
    await Promise.allSettled(writers.map((w) => w.done));
    Deno.removeSync(tmp, { recursive: true });
    fs.cleanup();
  }
});

Deno.test("lock: a failed plan or apply leaves no stack directory behind", async () => {
  const fs = privateBpffs();
  try {
    const store = kernelStore(fs.root);
    const stack = new Stack("s", [
      new TcpTuning("t", { cgroup: "/sys/fs/cgroup/unified/sf-no-such-cgroup", rules: [] }),
    ]);
    await assert.rejects(plan(stack, store), /sf-no-such-cgroup/);
    assert.equal(pathExists(`${fs.root}/s`), false, "plan created the stack directory");
    await assert.rejects(applyStack(stack, store), /sf-no-such-cgroup/);
    assert.equal(pathExists(`${fs.root}/s`), false, "apply left the stack directory");
  } finally {
    fs.cleanup();
  }
});

Deno.test("lock: the CLI gives up after --lock-timeout (default 0s) naming the holder", async () => {
  const fs = privateBpffs();
  const tmp = Deno.makeTempDirSync({ prefix: "sf-lock-" });
  const release = `${tmp}/release`;
  let holder: Writer | undefined;
  try {
    const file = writeStackFile(tmp, "s", []);
    holder = startWriter(fs.root, `${tmp}/log`, release, "holder");
    await eventually("the holder gets the lock", () => entered(holder!), 30_000);
    const apply = (...extra: string[]) =>
      runCli(["apply", "-s", file, "--auto-approve", "--state-root", fs.root, ...extra]);
    const atOnce = await apply();
    assert.equal(atOnce.code, 1, atOnce.stderr);
    assert.match(
      atOnce.stderr,
      new RegExp(`Error acquiring the state lock on .*: held by pid ${holder.pid} `),
    );
    const waited = await apply("--lock-timeout", "1s");
    assert.equal(waited.code, 1, waited.stderr);
    assert.match(waited.stderr, /held by pid \d+ .* after waiting 1s/);
    const bad = await apply("--lock-timeout", "10");
    assert.match(bad.stderr, /invalid duration "10"/);
    const long = apply("--lock-timeout", "5m");
    Deno.writeTextFileSync(release, "");
    const ok = await long;
    assert.equal(ok.code, 0, ok.stderr);
  } finally {
    Deno.writeTextFileSync(release, "");
    await holder?.done;
    Deno.removeSync(tmp, { recursive: true });
    fs.cleanup();
  }
});
