/**
 * Foreign sk_lookup programs on a SocketLookupRedirect's netns: a second copy
 * of the project's sk_lookup object, loaded and attached by this test without
 * any pin under the stack, must be listed by plan (human, JSON, exit code) and
 * show with its kernel id and its place in the run order; another sockform
 * stack on the same netns is named as such.
 */
import assert from "node:assert/strict";
import {
  applyStack,
  kernelStore,
  plan,
  showStack,
  SocketLookupRedirect,
  Stack,
} from "../../mod.ts";
import type { StateStore } from "../../engine/store.ts";
import type { ForeignProgram } from "../../engine/types.ts";
import { renderPlan } from "../../engine/render_human.ts";
import { planJson } from "../../engine/render_json.ts";
import { shownState } from "../../cli/output.ts";
import * as skLookup from "../../bpf/gen/sk_lookup.ts";
import { BpfObject } from "../../providers/libbpf/object.ts";
import { BpfLink } from "../../providers/libbpf/link.ts";
import { openNetns } from "../../providers/system/netns.ts";
import { libc } from "../../providers/libc/ffi.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { type SlrLab, withSlrLab } from "../helpers/slr_lab.ts";
import { expectCode, runCli, writeStackFile } from "../helpers/sockform_cli.ts";

/** A copy of sk_lookup attached to the lab's netns by nobody sockform knows. */
function attachForeign(lab: SlrLab): { progId: number; linkId: number; close(): void } {
  const obj = BpfObject.open(skLookup.object, "foreign");
  const nsFd = openNetns(lab.path);
  try {
    obj.load();
    const link = BpfLink.attachNetns(obj.program(skLookup.programs.dispatch), nsFd);
    const info = link.info();
    return {
      progId: info.progId,
      linkId: info.id,
      close: () => {
        link.close();
        obj.close();
      },
    };
  } catch (e) {
    obj.close();
    throw e;
  } finally {
    libc().close(nsFd);
  }
}

function webSpec(lab: SlrLab, prefix: string) {
  return {
    netns: lab.path,
    bindings: [{ protocol: "tcp" as const, prefix, ports: 80, to: "nginx" }],
    destinations: { nginx: { listener: "tcp://127.0.0.1:8080" } },
  };
}

async function foreignOf(stack: Stack, store: StateStore): Promise<ForeignProgram[]> {
  const p = await plan(stack, store);
  return p.steps[0].foreign ?? [];
}

async function withLab(fn: (lab: SlrLab, store: StateStore, root: string) => Promise<void>) {
  await withSlrLab(async (lab) => {
    const fs = privateBpffs();
    try {
      await lab.serve("tcp", "127.0.0.1", 8080, "nginx");
      await fn(lab, kernelStore(fs.root), fs.root);
    } finally {
      fs.cleanup();
    }
  });
}

Deno.test("plan and show list a foreign sk_lookup program on the netns, with its id and run order", async () => {
  await withLab(async (lab, store) => {
    const stack = new Stack("kt", [new SocketLookupRedirect("web", webSpec(lab, "192.0.2.0/24"))]);
    assert.deepEqual(await foreignOf(stack, store), [], "nothing foreign before the test adds it");
    const thief = attachForeign(lab);
    try {
      const before = await foreignOf(stack, store);
      assert.equal(before.length, 1);
      assert.equal(before[0].progId, thief.progId);
      assert.equal(before[0].linkId, thief.linkId);
      assert.equal(before[0].owner, null);
      assert.equal(before[0].runs, "unknown", "ours is not attached yet");
      await applyStack(stack, store);
      const p = await plan(stack, store);
      assert.equal(p.steps[0].action, "no-op", "a foreign program is a warning, not a change");
      const [f] = p.steps[0].foreign ?? [];
      assert.deepEqual([f.hook, f.progId, f.runs, f.canOverride], [
        "sk_lookup",
        thief.progId,
        "before",
        true,
      ]);
      assert.equal(f.target, `netns ${lab.path}`);
      const human = renderPlan(p, { color: false });
      assert.match(human, new RegExp(`foreign sk_lookup program id ${thief.progId} "dispatch"`));
      assert.match(human, /No changes\.[\s\S]*Warning: 1 foreign program\(s\)/);
      const json = planJson(p);
      assert.equal(json.resource_changes[0].sockform.foreign_programs[0].progId, thief.progId);
      assert.deepEqual(json.resource_changes[0].change.actions, ["no-op"]);
      assert.equal(json.sockform.warnings.length, 1);
      const [shown] = await showStack(stack, store);
      assert.equal(shown.foreign?.[0].progId, thief.progId);
      assert.match(
        shownState(shown),
        /^in sync, but 1 foreign program\(s\) on its hooks can override it$/,
      );
    } finally {
      thief.close();
    }
    assert.deepEqual(await foreignOf(stack, store), [], "the closed foreign link is gone");
  });
});

Deno.test("the CLI prints the foreign program and keeps --detailed-exitcode at 0", async () => {
  await withLab(async (lab, store, root) => {
    const dir = Deno.makeTempDirSync({ prefix: "sf-foreign-" });
    const thief = attachForeign(lab);
    try {
      const file = writeStackFile(dir, "kt", [{ name: "web", spec: webSpec(lab, "192.0.2.0/24") }]);
      const stack = new Stack("kt", [
        new SocketLookupRedirect("web", webSpec(lab, "192.0.2.0/24")),
      ]);
      await applyStack(stack, store);
      const r = await runCli(["plan", "-s", file, "--state-root", root, "--detailed-exitcode"]);
      expectCode(r, 0, "plan with only a foreign program");
      assert.match(
        r.stdout,
        new RegExp(`program id ${thief.progId} .*not sockform's.*runs before ours`),
      );
      const shown = await runCli(["show", "-s", file, "--state-root", root]);
      expectCode(shown, 0, "show");
      assert.match(shown.stdout, /SocketLookupRedirect\.web: in sync, but 1 foreign program/);
      assert.match(shown.stdout, new RegExp(`program id ${thief.progId} `));
    } finally {
      thief.close();
      Deno.removeSync(dir, { recursive: true });
    }
  });
});

Deno.test("a second sockform stack on the same netns is shown as that stack's resource", async () => {
  await withLab(async (lab, store) => {
    const mine = new Stack("kt", [new SocketLookupRedirect("web", webSpec(lab, "192.0.2.0/24"))]);
    const theirs = new Stack("other", [
      new SocketLookupRedirect("edge", webSpec(lab, "198.51.100.0/24")),
    ]);
    await applyStack(mine, store);
    await applyStack(theirs, store);
    const [f] = await foreignOf(mine, store);
    assert.equal(f.owner, "sockform stack other resource edge");
    assert.equal(f.runs, "after");
    const [g] = await foreignOf(theirs, store);
    assert.equal(g.owner, "sockform stack kt resource web");
    assert.equal(g.runs, "before");
  });
});
