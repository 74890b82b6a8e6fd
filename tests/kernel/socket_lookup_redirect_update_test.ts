/**
 * SocketLookupRedirect updates on the real kernel: a new program version is
 * swapped on the same link, a detached link is re-attached, bindings are
 * re-pointed and removed in place, and a netns move replaces the resource.
 * Each test has its own netns(es) and private bpffs.
 */
import assert from "node:assert/strict";
import {
  applyStack,
  kernelStore,
  plan,
  SocketLookupRedirect,
  Stack,
  StepError,
} from "../../mod.ts";
import type { SocketLookupRedirectSpecInput } from "../../resources/socket_lookup_redirect.ts";
import type { StateStore } from "../../engine/store.ts";
import { listLinks, listPrograms } from "../../providers/libbpf/info.ts";
import { BpfLink } from "../../providers/libbpf/link.ts";
import { readMeta, writeMeta } from "../../providers/state/meta.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { createSlrLab, type SlrLab } from "../helpers/slr_lab.ts";
import { eventually, linksOnNetns } from "../helpers/sockform_cli.ts";
import { failAtEveryChange, withFault } from "../helpers/faults.ts";

const REFUSED = "ERR:ConnectionRefusedError";

interface Env {
  labs: SlrLab[];
  store: StateStore;
  /** `<root>/upd/web` */
  dir: string;
}

/** `count` labs with listeners A (8080) and B (8081), and a store on a private bpffs. */
async function withEnv(count: number, fn: (env: Env) => Promise<void>): Promise<void> {
  const labs: SlrLab[] = [];
  const fs = privateBpffs();
  try {
    for (let i = 0; i < count; i++) {
      const lab = await createSlrLab("upd");
      labs.push(lab);
      await lab.serve("tcp", "127.0.0.1", 8080, "A");
      await lab.serve("tcp", "127.0.0.1", 8081, "B");
    }
    await fn({ labs, store: kernelStore(fs.root), dir: `${fs.root}/upd/web` });
  } finally {
    for (const lab of labs) await lab.cleanup();
    fs.cleanup();
  }
}

function stack(lab: SlrLab, bindings: SocketLookupRedirectSpecInput["bindings"]): Stack {
  return new Stack("upd", [
    new SocketLookupRedirect("web", {
      netns: lab.path,
      bindings,
      destinations: {
        a: { listener: "tcp://127.0.0.1:8080" },
        b: { listener: "tcp://127.0.0.1:8081" },
      },
    }),
  ]);
}

const TO_A = [{ protocol: "tcp" as const, prefix: "192.0.2.0/24", ports: 80, to: "a" }];

function linkOn(lab: SlrLab) {
  const links = listLinks().filter((l) => l.netnsIno === lab.ino);
  assert.equal(links.length, 1, `links on ${lab.name}`);
  return links[0];
}

Deno.test("a new program version is swapped on the same link (hitless update)", async () => {
  await withEnv(1, async ({ labs: [lab], store, dir }) => {
    const s = stack(lab, TO_A);
    await applyStack(s, store);
    const before = linkOn(lab);
    // Pretend an older build is deployed: the metadata names another object.
    writeMeta(dir, { ...readMeta(dir)!, objectHash: "0".repeat(64) });

    const p = await plan(s, store);
    assert.equal(p.steps[0].action, "update");
    assert.deepEqual(p.steps[0].changes.map((c) => [c.path, c.hitless]), [["program", true]]);
    assert.equal(p.steps[0].hitless, true);
    await applyStack(s, store);

    const after = linkOn(lab);
    assert.equal(after.id, before.id, "the same link");
    assert.notEqual(after.progId, before.progId, "runs a new program");
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "A");
    assert.equal((await plan(s, store)).steps[0].action, "no-op");
    await eventually(
      "the old program is freed",
      () => !listPrograms().some((prog) => prog.id === before.progId),
    );
  });
});

Deno.test("a link detached behind sockform's back is drift, and apply re-attaches", async () => {
  await withEnv(1, async ({ labs: [lab], store, dir }) => {
    const s = stack(lab, TO_A);
    await applyStack(s, store);
    const link = BpfLink.openPinned(`${dir}/link`)!;
    try {
      link.detach();
    } finally {
      link.close();
    }
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), REFUSED);
    const p = await plan(s, store);
    assert.deepEqual(p.steps[0].drift.map((d) => [d.path, d.before]), [["link", "detached"]]);
    await applyStack(s, store);
    await eventually("one link", () => linksOnNetns(lab.ino) === 1);
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "A");
    assert.equal((await plan(s, store)).steps[0].action, "no-op");
  });
});

Deno.test("bindings are re-pointed, added and removed in place on the same link", async () => {
  await withEnv(1, async ({ labs: [lab], store }) => {
    await applyStack(stack(lab, TO_A), store);
    const link = linkOn(lab);
    const next = stack(lab, [
      { protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "b" },
      { protocol: "tcp", prefix: "198.51.100.0/24", ports: [8000, 8001], to: "a" },
    ]);
    const p = await plan(next, store);
    assert.equal(p.steps[0].action, "update");
    assert.ok(p.steps[0].hitless, "map edits are hitless");
    assert.deepEqual(p.steps[0].drift, [], "a spec change is not drift");
    await applyStack(next, store);
    assert.equal(linkOn(lab).id, link.id);
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "B");
    assert.equal(await lab.ask("tcp", "198.51.100.10", 8001), "A");

    await applyStack(stack(lab, []), store);
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), REFUSED);
    assert.equal(await lab.ask("tcp", "198.51.100.10", 8001), REFUSED);
    assert.equal(linkOn(lab).id, link.id, "still attached, with nothing to steer");
  });
});

Deno.test("moving to another netns replaces the resource: the new netns is steered, the old one left", async () => {
  await withEnv(2, async ({ labs: [one, two], store }) => {
    await applyStack(stack(one, TO_A), store);
    const moved = stack(two, TO_A);
    const p = await plan(moved, store);
    assert.equal(p.steps[0].action, "replace");
    assert.equal(p.steps[0].hitless, false);
    await applyStack(moved, store);
    // apply returns only once the old link is released: no waiting here.
    assert.equal(linksOnNetns(one.ino), 0, "no link left on the old netns");
    assert.equal(linksOnNetns(two.ino), 1);
    assert.equal(await two.ask("tcp", "192.0.2.10", 80), "A");
    assert.equal(await one.ask("tcp", "192.0.2.10", 80), REFUSED);
    assert.equal((await plan(moved, store)).steps[0].action, "no-op");
  });
});

Deno.test("a failed update (link repair, program swap, map edits) rolls back to exactly what was there", async () => {
  await withEnv(1, async ({ labs: [lab], store, dir }) => {
    await applyStack(stack(lab, TO_A), store);
    const link = BpfLink.openPinned(`${dir}/link`)!;
    try {
      link.detach();
    } finally {
      link.close();
    }
    writeMeta(dir, { ...readMeta(dir)!, objectHash: "0".repeat(64) });
    const next = stack(lab, [{ protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "b" }]);
    const before = await plan(next, store);
    assert.deepEqual(before.steps[0].changes.map((c) => c.path), [
      "link",
      "program",
      "bindings[0]",
    ]);

    // A failure at every kernel change of the update, one run each.
    const changes = await failAtEveryChange(() => applyStack(next, store), async (n) => {
      const after = await plan(next, store);
      assert.equal(after.token, before.token, `change ${n}: observed exactly as before`);
      assert.deepEqual(after.steps[0].changes, before.steps[0].changes, `change ${n}`);
      assert.equal(linksOnNetns(lab.ino), 0, `change ${n}: the repaired link was detached again`);
    });
    assert.ok(changes >= 6, `the update makes ${changes} change(s)`);
    await withFault(
      "fail-after:1",
      () =>
        assert.rejects(applyStack(stack(lab, TO_A), store), (e: Error) => {
          assert.ok(e instanceof StepError, String(e));
          assert.match(
            e.message,
            /^step "update SocketLookupRedirect\.web" failed: injected fault/,
          );
          assert.deepEqual(e.rollbackFailures, []);
          return true;
        }),
    );
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "B", "the walk's last run went through");
  });
});
