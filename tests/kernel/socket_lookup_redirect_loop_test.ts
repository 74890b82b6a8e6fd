/**
 * The plan/apply loop on the real kernel through the CLI: a second plan is
 * clean, tampering is drift that apply repairs, concurrent applies serialise,
 * and destroy leaves nothing behind. Crashes and injected failures are in
 * socket_lookup_redirect_crash_test.ts. Each test has its own netns(es),
 * private bpffs and temp dir, all removed in `finally`.
 */
import assert from "node:assert/strict";
import { BpfMap } from "../../providers/libbpf/map.ts";
import { describeKey, keyHex } from "../../resources/socket_lookup_redirect/entries.ts";
import { dirEntries, eventually, expectCode, linksOnNetns } from "../helpers/sockform_cli.ts";
import {
  applyOk,
  assertOneLinkEach,
  assertSteered,
  PINS,
  planClean,
  REFUSED,
  webSpec,
  withEnv,
} from "../helpers/slr_loop.ts";

Deno.test("a second plan is exit 0 'no changes'", async () => {
  await withEnv(1, async (env) => {
    const first = await env.cli(["plan", "--detailed-exitcode"]);
    expectCode(first, 2, "plan before apply");
    assert.match(
      first.stdout,
      /# SocketLookupRedirect\.web will be created\n {2}\+ SocketLookupRedirect\.web/,
    );
    const applied = await env.cli(["apply", "--auto-approve"]);
    expectCode(applied, 0, "apply");
    assert.match(applied.stdout, /Apply complete! Resources: 1 added, 0 changed, 0 destroyed\./);
    await planClean(env);
    const again = await env.cli(["apply", "--auto-approve"]);
    expectCode(again, 0, "second apply");
    assert.match(
      again.stdout,
      /No changes\. Your kernel matches the stack\.\nApply complete! Resources: 0 added, 0 changed, 0 destroyed\./,
    );
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
    const first = await lab.serve("tcp", "127.0.0.1", 8083, "C1");
    env.declare((l) => ({
      ...webSpec(l),
      bindings: [
        ...webSpec(l).bindings,
        { protocol: "tcp", prefix: "192.0.2.0/24", ports: 8000, to: "c" },
      ],
      destinations: { ...webSpec(l).destinations, c: { listener: "tcp://127.0.0.1:8083" } },
    }));
    await applyOk(env);
    assert.equal(await lab.ask("tcp", "192.0.2.10", 8000), "C1");

    await first.stop();
    await lab.serve("tcp", "127.0.0.1", 8083, "C2");
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

Deno.test("two concurrent applies do not interleave", async () => {
  await withEnv(2, async (env) => {
    // Both wait for the lock (the CLI's default, as Terraform's, is to fail at once).
    const waiting = ["apply", "--auto-approve", "--lock-timeout", "60s"];
    const [a, b] = await Promise.all([env.cli(waiting), env.cli(waiting)]);
    expectCode(a, 0, "first apply");
    expectCode(b, 0, "second apply");
    const outcomes = [a.stdout, b.stdout].map((s) =>
      /Apply complete! Resources: 2 added, 0 changed, 0 destroyed\./.test(s)
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
    assert.match(r.stdout, /Destroy complete! Resources: 1 destroyed\./);
    assert.equal(dirEntries(env.stackDir), null);
    assert.deepEqual(dirEntries(env.root), []);
    assert.equal(linksOnNetns(lab.ino), 0, "destroy returned with the link released");
    assert.equal(await lab.ask("tcp", "192.0.2.10", 80), REFUSED);
    const again = await env.cli(["plan", "--detailed-exitcode"]);
    expectCode(again, 2, "plan after destroy");
  });
});
