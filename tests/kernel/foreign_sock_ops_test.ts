/**
 * Foreign sock_ops programs on a TcpTuning's cgroup: copies of the project's
 * sock_ops object attached by this test (no pin under the stack) on the same
 * cgroup, on its parent (inherited, in the effective list) and on a
 * descendant must be listed by plan and show with their ids, where they are
 * attached and where they run relative to ours.
 */
import assert from "node:assert/strict";
import { applyStack, kernelStore, plan, showStack, Stack, TcpTuning } from "../../mod.ts";
import type { StateStore } from "../../engine/store.ts";
import type { ForeignProgram } from "../../engine/types.ts";
import { renderPlan } from "../../engine/render_human.ts";
import * as sockOps from "../../bpf/gen/sock_ops.ts";
import { BpfObject } from "../../providers/libbpf/object.ts";
import { BpfLink } from "../../providers/libbpf/link.ts";
import { cstr, libc, O } from "../../providers/libc/ffi.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { privateCgroup } from "../helpers/tcp_tuning_lab.ts";

/** A copy of sock_ops attached to `cgroup` through an unpinned link. */
function attachForeign(cgroup: string): { progId: number; close(): void } {
  const obj = BpfObject.open(sockOps.object, "foreign");
  const fd = libc().open(cstr(cgroup), O.RDONLY | O.DIRECTORY | O.CLOEXEC, 0);
  assert.ok(fd >= 0, `open ${cgroup}`);
  try {
    obj.load();
    const link = BpfLink.attachCgroup(obj.program(sockOps.programs.tune), fd);
    const progId = link.info().progId;
    return {
      progId,
      close: () => {
        link.close();
        obj.close();
      },
    };
  } catch (e) {
    obj.close();
    throw e;
  } finally {
    libc().close(fd);
  }
}

interface Tree {
  parent: string;
  tuned: string;
  sub: string;
  store: StateStore;
  /** Remembers a foreign attachment to close at the end. */
  keep(f: { progId: number; close(): void }): number;
}

/** parent/tuned/sub cgroups and a private bpffs, all removed afterwards. */
async function withTree(fn: (t: Tree) => Promise<void>): Promise<void> {
  const fs = privateBpffs();
  const parent = privateCgroup("sf-foreign");
  const tuned = `${parent.path}/tuned`;
  const sub = `${tuned}/sub`;
  const opened: { close(): void }[] = [];
  try {
    Deno.mkdirSync(sub, { recursive: true });
    await fn({
      parent: parent.path,
      tuned,
      sub,
      store: kernelStore(fs.root),
      keep(f) {
        opened.push(f);
        return f.progId;
      },
    });
  } finally {
    for (const f of opened.reverse()) f.close();
    fs.cleanup();
    for (const dir of [sub, tuned]) Deno.removeSync(dir);
    await parent.remove();
  }
}

function stackOn(cgroup: string): Stack {
  return new Stack("kt", [
    new TcpTuning("tune", { cgroup, rules: [{ match: {}, set: { mark: 1 } }] }),
  ]);
}

/** Foreign programs of the plan's one step, keyed by program id. */
async function foreignById(stack: Stack, store: StateStore): Promise<Map<number, ForeignProgram>> {
  const p = await plan(stack, store);
  return new Map((p.steps[0].foreign ?? []).map((f) => [f.progId, f]));
}

Deno.test("plan lists foreign sock_ops programs on the cgroup, its parent and its descendants", async () => {
  await withTree(async (t) => {
    const stack = stackOn(t.tuned);
    const same = t.keep(attachForeign(t.tuned));
    const early = await foreignById(stack, t.store);
    assert.equal(early.get(same)?.runs, "unknown", "ours is not attached yet");
    await applyStack(stack, t.store);
    const above = t.keep(attachForeign(t.parent));
    const below = t.keep(attachForeign(t.sub));
    const p = await plan(stack, t.store);
    assert.equal(p.steps[0].action, "no-op", "foreign programs are warnings, not changes");
    const found = new Map((p.steps[0].foreign ?? []).map((f) => [f.progId, f]));
    const mine = [...found.values()].filter((f) => f.target.includes(t.parent));
    assert.equal(mine.length, 3, `only the three test programs: ${JSON.stringify(mine)}`);
    const view = (id: number) => {
      const f = found.get(id)!;
      return [f.hook, f.target, f.runs, f.canOverride, f.owner];
    };
    assert.deepEqual(view(same), ["sock_ops", `cgroup ${t.tuned}`, "before", true, null]);
    assert.deepEqual(view(above), [
      "sock_ops",
      `cgroup ${t.parent} (inherited)`,
      "after",
      true,
      null,
    ]);
    assert.deepEqual(view(below), [
      "sock_ops",
      `cgroup ${t.sub} (descendant)`,
      "before",
      true,
      null,
    ]);
    assert.match(
      renderPlan(p, { color: false }),
      new RegExp(`foreign sock_ops program id ${above} "tune" .*runs after ours`),
    );
    const [shown] = await showStack(stack, t.store);
    assert.deepEqual(
      (shown.foreign ?? []).map((f) => f.progId).filter((id) => [same, above, below].includes(id))
        .sort(),
      [same, above, below].sort(),
    );
  });
});

Deno.test("another sockform stack's TcpTuning on the same cgroup is named as its owner", async () => {
  await withTree(async (t) => {
    await applyStack(stackOn(t.tuned), t.store);
    const other = new Stack("other", [
      new TcpTuning("reno", { cgroup: t.tuned, rules: [{ match: {}, set: { mark: 2 } }] }),
    ]);
    await applyStack(other, t.store);
    const found = [...(await foreignById(stackOn(t.tuned), t.store)).values()];
    const owned = found.filter((f) => f.owner !== null);
    assert.deepEqual(owned.map((f) => [f.owner, f.runs]), [[
      "sockform stack other resource reno",
      "after",
    ]]);
  });
});
