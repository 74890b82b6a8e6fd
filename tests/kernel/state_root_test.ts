/**
 * Who may write the state: a state root, stack directory or resource
 * directory another user owns or can write is refused with a one-line fix,
 * a root behind a symlink is refused, and sockform mounts bpffs 0700.
 *
 * @module
 */
import assert from "node:assert/strict";
import { privateBpffs } from "../../lab/bpffs.ts";
import { kernelStore } from "../../providers/state/kernel_store.ts";
import { applyStack } from "../../engine/session.ts";
import { plan } from "../../engine/plan.ts";
import { Stack } from "../../engine/stack.ts";

const NOBODY = 65534;
const empty = new Stack("s", []);

async function refused(root: string, pattern: RegExp): Promise<void> {
  const store = kernelStore(root);
  await assert.rejects(plan(empty, store), (e: Error) => {
    assert.equal(e.name, "UserError", e.message);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes("\n"), `one line: ${e.message}`);
    return true;
  });
  await assert.rejects(applyStack(empty, store), pattern);
}

Deno.test("state root: directories other users own or can write are refused", async (t) => {
  const fs = privateBpffs();
  try {
    await t.step("a state root of mode 0777", async () => {
      Deno.mkdirSync(`${fs.mount}/open`, { mode: 0o700 });
      Deno.chmodSync(`${fs.mount}/open`, 0o777);
      await refused(`${fs.mount}/open`, /state root .*\/open has mode 0777.*chmod 0700/);
    });
    await t.step("a state root another user owns", async () => {
      Deno.mkdirSync(`${fs.mount}/theirs`, { mode: 0o700 });
      Deno.chownSync(`${fs.mount}/theirs`, NOBODY, NOBODY);
      await refused(`${fs.mount}/theirs`, /owned by uid 65534, not root.*chown -R root:root/);
    });
    await t.step("a stack directory of mode 0777", async () => {
      Deno.mkdirSync(`${fs.root}/s`, { recursive: true, mode: 0o700 });
      Deno.chmodSync(`${fs.root}/s`, 0o1777);
      await refused(fs.root, /stack directory .*\/s has mode 01777.*chmod 0700/);
      Deno.chmodSync(`${fs.root}/s`, 0o700);
    });
    await t.step("a resource directory another user owns", async () => {
      Deno.mkdirSync(`${fs.root}/s/web`, { mode: 0o700 });
      Deno.chownSync(`${fs.root}/s/web`, NOBODY, 0);
      await refused(fs.root, /resource directory .*\/s\/web is owned by uid 65534/);
    });
  } finally {
    fs.cleanup();
  }
});

Deno.test("state root: a root reached through a symlinked parent is refused", async () => {
  const fs = privateBpffs();
  const tmp = Deno.makeTempDirSync({ prefix: "sf-link-" });
  try {
    Deno.symlinkSync(fs.mount, `${tmp}/bpf`);
    await refused(`${tmp}/bpf/sockform`, /reached through the symbolic link .*\/bpf/);
    const names = [...Deno.readDirSync(fs.mount)].map((e) => e.name);
    assert.ok(!names.includes("sockform"), "nothing was created behind the link");
  } finally {
    Deno.removeSync(tmp, { recursive: true });
    fs.cleanup();
  }
});

Deno.test("state root: sockform mounts bpffs mode 0700, not the default 1777", () => {
  const fs = privateBpffs();
  try {
    // The kernel always adds the sticky bit to a bpffs root; the permissions are ours.
    assert.equal((Deno.statSync(fs.mount).mode ?? 0) & 0o777, 0o700);
  } finally {
    fs.cleanup();
  }
});

Deno.test("state root: stack and resource names that are not plain directory names are refused", async () => {
  const fs = privateBpffs();
  try {
    const store = kernelStore(fs.root);
    // What a stack file can export without going through the Stack constructor.
    const escape = { name: "../../../x", resources: [], ordered: () => [] } as unknown as Stack;
    await assert.rejects(applyStack(escape, store), /stack name "..\/..\/..\/x" is not a plain/);
    const res = new Stack("s", []);
    res.ordered = () => [{ kind: "TcpTuning", name: "../y" }] as never;
    await assert.rejects(applyStack(res, store), /\.\.\/y\.name: must match/);
    const names = [...Deno.readDirSync(fs.mount)].map((e) => e.name);
    assert.ok(!names.includes("x") && !names.includes("y"), `created outside: ${names}`);
    assert.deepEqual([...Deno.readDirSync(fs.root)], [], "no stack directory left");
  } finally {
    fs.cleanup();
  }
});
