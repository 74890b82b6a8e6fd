/**
 * The CLI as a black box: `deno run -A main.ts …` subprocesses against a
 * temp stack file, a real netns with real listeners and a private bpffs.
 * Checks exit codes, one-line errors without stack traces, the
 * Terraform-shaped JSON, and saved plans.
 */
import assert from "node:assert/strict";
import { privateBpffs } from "../../lab/bpffs.ts";
import { type SlrLab, withSlrLab } from "../helpers/slr_lab.ts";
import {
  dirEntries,
  eventually,
  expectCode,
  linksOnNetns,
  runCli,
  writeStackFile,
} from "../helpers/sockform_cli.ts";

interface Ctx {
  lab: SlrLab;
  root: string;
  tmp: string;
  stackName: string;
  /** Writes `<tmp>/stack.ts` with one resource "web" and returns its path. */
  stack(spec: unknown): string;
  /** Runs the CLI with `--state-root <root>` appended. */
  cli(...args: string[]): ReturnType<typeof runCli>;
}

function goodSpec(lab: SlrLab, extra: unknown[] = []) {
  return {
    netns: lab.path,
    bindings: [{ protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "a" }, ...extra],
    destinations: { a: { listener: "tcp://127.0.0.1:8080" } },
  };
}

async function withCtx(fn: (c: Ctx) => Promise<void>): Promise<void> {
  await withSlrLab(async (lab) => {
    await lab.serve("tcp", "127.0.0.1", 8080, "A");
    const fs = privateBpffs();
    const tmp = Deno.makeTempDirSync({ prefix: "sf-cli-" });
    try {
      const stackName = `cli-${crypto.randomUUID().slice(0, 8)}`;
      await fn({
        lab,
        root: fs.root,
        tmp,
        stackName,
        stack: (spec) => writeStackFile(tmp, stackName, [{ name: "web", spec }]),
        cli: (...args) => runCli([...args, "--state-root", fs.root]),
      });
    } finally {
      fs.cleanup();
      Deno.removeSync(tmp, { recursive: true });
    }
  }, "cli");
}

/** stderr must be exactly one `Error: …` line (progress lines start with "…"). */
function oneErrorLine(stderr: string): string {
  const lines = stderr.trim().split("\n").filter((l) => !l.startsWith("… "));
  assert.equal(lines.length, 1, `expected one error line, got:\n${stderr}`);
  assert.ok(lines[0].startsWith("Error: "), lines[0]);
  assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
  return lines[0];
}

Deno.test("validate: exit 0 for a good stack; a bad spec is one line with its field path", async () => {
  await withCtx(async (c) => {
    const good = await c.cli("validate", "-s", c.stack(goodSpec(c.lab)));
    expectCode(good, 0, "validate");
    assert.equal(good.stdout.trim(), `Stack "${c.stackName}" is valid: 1 resource(s).`);

    const bad = c.stack({
      ...goodSpec(c.lab),
      bindings: [{ protocol: "tcp", prefix: "10.0.0.1/8", ports: 80, to: "a" }],
    });
    for (const cmd of ["validate", "plan", "apply"]) {
      const r = await c.cli(cmd, "-s", bad);
      expectCode(r, 1, `${cmd} of a bad spec`);
      assert.equal(
        oneErrorLine(r.stderr),
        "Error: web.bindings[0].prefix: host bits set in 10.0.0.1/8 (did you mean 10.0.0.0/8?)",
      );
    }
    const missing = await c.cli("validate", "-s", `${c.tmp}/nope.ts`);
    expectCode(missing, 1, "validate of a missing file");
    assert.match(oneErrorLine(missing.stderr), /stack file .*nope\.ts not found/);
  });
});

Deno.test("plan --detailed-exitcode: 2 with changes, 0 after apply; apply refuses without a TTY; state list", async () => {
  await withCtx(async (c) => {
    const file = c.stack(goodSpec(c.lab));
    expectCode(await c.cli("plan", "-s", file, "--detailed-exitcode"), 2, "plan before apply");
    expectCode(await c.cli("plan", "-s", file), 0, "plan without --detailed-exitcode");

    const refused = await c.cli("apply", "-s", file);
    expectCode(refused, 1, "apply without --auto-approve, stdin not a TTY");
    assert.equal(
      oneErrorLine(refused.stderr),
      "Error: refusing to apply without a TTY: pass --auto-approve",
    );
    assert.equal(linksOnNetns(c.lab.ino), 0, "nothing was applied");

    const empty = await c.cli("state", "list", "-s", file);
    expectCode(empty, 0, "state list before apply");
    assert.equal(empty.stdout, "");
    expectCode(await c.cli("apply", "-s", file, "--auto-approve"), 0, "apply");
    expectCode(await c.cli("plan", "-s", file, "--detailed-exitcode"), 0, "plan after apply");
    assert.equal(await c.lab.ask("tcp", "192.0.2.10", 80), "A");
    const listed = await c.cli("state", "list", "-s", file);
    expectCode(listed, 0, "state list");
    assert.equal(listed.stdout, "SocketLookupRedirect.web\n");

    const noDestroy = await c.cli("destroy", "-s", file);
    expectCode(noDestroy, 1, "destroy without --auto-approve");
    assert.match(oneErrorLine(noDestroy.stderr), /refusing to destroy without a TTY/);
    assert.equal(linksOnNetns(c.lab.ino), 1, "still deployed");
  });
});

Deno.test("plan --json has Terraform's shape: actions, and resource_drift after tampering", async () => {
  await withCtx(async (c) => {
    const file = c.stack(goodSpec(c.lab));
    const before = JSON.parse((await c.cli("plan", "-s", file, "--json")).stdout);
    assert.equal(typeof before.format_version, "string");
    assert.match(before.format_version, /^1\.\d+$/);
    assert.equal(before.resource_changes.length, 1);
    const change = before.resource_changes[0];
    assert.deepEqual(
      [change.address, change.type, change.name, change.mode, change.change.actions],
      ["SocketLookupRedirect.web", "SocketLookupRedirect", "web", "managed", ["create"]],
    );
    assert.equal(change.change.before, null);
    assert.equal(change.change.after.netns, c.lab.path);
    assert.equal(before.resource_drift, undefined, "omitted when empty, as Terraform does");

    expectCode(await c.cli("apply", "-s", file, "--auto-approve"), 0, "apply");
    const clean = JSON.parse((await c.cli("plan", "-s", file, "--json")).stdout);
    assert.deepEqual(clean.resource_changes[0].change.actions, ["no-op"]);
    assert.equal(clean.resource_drift, undefined);
    // One shape on both sides: the spec read back from the kernel vs the desired spec;
    // the kernel's own details (maps, link ids) only under the sockform extension.
    const same = clean.resource_changes[0];
    assert.deepEqual(same.change.before, same.change.after, "a no-op shows before == after");
    assert.deepEqual(clean.planned_values.root_module.resources[0].values, same.change.after);
    assert.deepEqual(clean.prior_state.values.root_module.resources[0].values, same.change.before);
    assert.equal(typeof same.sockform.observed, "object");
    assert.notDeepEqual(same.sockform.observed, same.change.before);

    Deno.removeSync(`${c.root}/${c.stackName}/web/link`);
    const r = await c.cli("plan", "-s", file, "--json", "--detailed-exitcode");
    expectCode(r, 2, "plan --json after unpinning the link");
    const drifted = JSON.parse(r.stdout);
    assert.deepEqual(drifted.resource_changes[0].change.actions, ["update"]);
    assert.equal(drifted.resource_drift.length, 1);
    assert.equal(drifted.resource_drift[0].address, "SocketLookupRedirect.web");
    assert.deepEqual(
      drifted.resource_drift[0].sockform.drift.map((d: { path: string }) => d.path),
      ["link"],
    );

    // show --json reads the same kernel state, with counters.
    expectCode(await c.cli("apply", "-s", file, "--auto-approve"), 0, "repair");
    assert.equal(await c.lab.ask("tcp", "192.0.2.10", 80), "A");
    const shown = JSON.parse((await c.cli("show", "-s", file, "--json")).stdout);
    assert.equal(shown.resources[0].address, "SocketLookupRedirect.web");
    assert.deepEqual(shown.resources[0].details.counters.a, {
      lookups: 1,
      redirected: 1,
      noSocket: 0,
      refused: 0,
    });
  });
});

Deno.test("saved plans: apply f.json works untampered and refuses a stale one", async () => {
  await withCtx(async (c) => {
    const file = c.stack(goodSpec(c.lab));
    expectCode(await c.cli("apply", "-s", file, "--auto-approve"), 0, "first apply");
    c.stack(goodSpec(c.lab, [{ protocol: "tcp", prefix: "198.51.100.0/24", ports: 80, to: "a" }]));

    const saved = `${c.tmp}/plan.json`;
    expectCode(await c.cli("plan", "-s", file, "-o", saved), 0, "plan -o");
    // Tamper: someone edits the kernel state between review and apply.
    const unpinned = `${c.root}/${c.stackName}/web/link`;
    Deno.removeSync(unpinned);
    const stale = await c.cli("apply", saved);
    expectCode(stale, 1, "apply of a stale saved plan");
    assert.match(
      oneErrorLine(stale.stderr),
      /^Error: saved plan is stale: the kernel state of stack .* changed/,
    );
    assert.equal(
      await c.lab.ask("tcp", "198.51.100.10", 80),
      "ERR:ConnectionRefusedError",
      "nothing applied",
    );

    const fresh = `${c.tmp}/fresh.json`;
    expectCode(await c.cli("plan", "-s", file, "-o", fresh), 0, "plan -o again");
    const applied = await c.cli("apply", fresh);
    expectCode(applied, 0, "apply of the fresh saved plan");
    assert.match(applied.stdout, /Apply complete! Resources: 0 added, 1 changed, 0 destroyed\./);
    assert.equal(await c.lab.ask("tcp", "198.51.100.10", 80), "A");
    expectCode(await c.cli("plan", "-s", file, "--detailed-exitcode"), 0, "plan after");

    // A stack file edited after the plan was saved is stale too.
    expectCode(await c.cli("plan", "-s", file, "-o", saved), 0, "plan -o (no changes)");
    c.stack(goodSpec(c.lab));
    const edited = await c.cli("apply", saved);
    expectCode(edited, 1, "apply after editing the stack file");
    assert.match(oneErrorLine(edited.stderr), /^Error: saved plan is stale/);
  });
});

Deno.test("saved plans named anything: show renders them, apply takes them", async () => {
  await withCtx(async (c) => {
    const file = c.stack(goodSpec(c.lab));
    const saved = `${c.tmp}/p1.tfplan`;
    expectCode(await c.cli("plan", "-s", file, "-o", saved), 0, "plan -o p1.tfplan");
    const human = await c.cli("show", saved);
    expectCode(human, 0, "show p1.tfplan");
    assert.match(human.stdout, /^ {2}# SocketLookupRedirect\.web will be created$/m);
    assert.match(human.stdout, /^Plan: 1 to add, 0 to change, 0 to destroy\.$/m);
    const json = await c.cli("show", saved, "--json");
    expectCode(json, 0, "show p1.tfplan --json");
    const doc = JSON.parse(json.stdout);
    assert.deepEqual(doc.resource_changes[0].change.actions, ["create"]);
    assert.equal(doc.planned_values.root_module.resources[0].address, "SocketLookupRedirect.web");
    const applied = await c.cli("apply", saved);
    expectCode(applied, 0, "apply p1.tfplan");
    assert.equal(await c.lab.ask("tcp", "192.0.2.10", 80), "A");
    const shown = await c.cli("show", "-s", file);
    assert.match(shown.stdout, /^# SocketLookupRedirect\.web: in sync$/m);
    assert.match(shown.stdout, /^resource "SocketLookupRedirect" "web" \{$/m);
  });
});

Deno.test("a failed plan --json prints Terraform's errored document on stdout", async () => {
  await withCtx(async (c) => {
    const ghost = `/run/netns/sf-ghost-${crypto.randomUUID().slice(0, 8)}`;
    const r = await c.cli("plan", "-s", c.stack({ ...goodSpec(c.lab), netns: ghost }), "--json");
    expectCode(r, 1, "plan --json with a missing netns");
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.errored, true);
    assert.deepEqual(doc.diagnostics, [{
      severity: "error",
      summary: `web.netns: network namespace ${ghost} does not exist`,
      detail: `Field "netns" of resource "web": network namespace ${ghost} does not exist.`,
      address: "SocketLookupRedirect.web",
      path: "netns",
    }]);
    assert.match(oneErrorLine(r.stderr), /^Error: web\.netns: /);
  });
});

Deno.test("a missing netns is a one-line plan error naming it", async () => {
  await withCtx(async (c) => {
    const ghost = `/run/netns/sf-ghost-${crypto.randomUUID().slice(0, 8)}`;
    const file = c.stack({ ...goodSpec(c.lab), netns: ghost });
    const r = await c.cli("plan", "-s", file);
    expectCode(r, 1, "plan with a missing netns");
    assert.equal(
      oneErrorLine(r.stderr),
      `Error: web.netns: network namespace ${ghost} does not exist`,
    );
  });
});

Deno.test("a state root that is not on bpffs is refused with a clear error", async () => {
  await withCtx(async (c) => {
    const file = c.stack(goodSpec(c.lab));
    const notBpf = `${c.tmp}/state`;
    for (const args of [["--state-root", notBpf], []]) {
      const r = await runCli(["plan", "-s", file, ...args], {
        env: args.length ? {} : { SOCKFORM_STATE_ROOT: notBpf },
      });
      expectCode(r, 1, `plan with a state root on tmpfs (${args.length ? "flag" : "env"})`);
      assert.match(
        oneErrorLine(r.stderr),
        new RegExp(
          `^Error: state root ${notBpf} is not on bpffs \\(mount one: mount -t bpf -o mode=0700 bpf`,
        ),
      );
    }
    assert.equal(dirEntries(notBpf), null, "nothing was created there");
    await eventually("nothing attached", () => linksOnNetns(c.lab.ino) === 0);
  });
});

Deno.test("-target: Terraform's warning; only the targeted resource is planned and applied", async () => {
  await withCtx(async (c) => {
    const file = c.stack(goodSpec(c.lab));
    const other = await c.cli("apply", "-s", file, "--auto-approve", "-target", "TcpTuning.x");
    expectCode(other, 0, "apply targeting another resource");
    assert.match(other.stderr, /^Warning: Resource targeting is in effect$/m);
    assert.match(other.stdout, /No changes/);
    assert.equal(linksOnNetns(c.lab.ino), 0, "the untargeted resource was not applied");
    const planned = await c.cli(
      "plan",
      "-s",
      file,
      "--detailed-exitcode",
      "-target=SocketLookupRedirect.web",
    );
    expectCode(planned, 2, "plan targeting web");
    const saved = `${c.tmp}/p.json`;
    const targeted = ["-target", "SocketLookupRedirect.web"];
    expectCode(await c.cli("plan", "-s", file, "-o", saved, ...targeted), 0, "targeted plan -o");
    expectCode(await c.cli("apply", saved, "-target", "X.y"), 1, "a saved plan takes no -target");
    const applied = await c.cli("apply", saved);
    expectCode(applied, 0, "apply of the targeted saved plan");
    assert.match(applied.stderr, /^Warning: Resource targeting is in effect$/m);
    assert.equal(linksOnNetns(c.lab.ino), 1);
    const gone = await c.cli("destroy", "-s", file, "--auto-approve", ...targeted);
    expectCode(gone, 0, "destroy -target web");
    assert.match(gone.stdout, /Destroy complete! Resources: 1 destroyed\./);
    assert.equal(linksOnNetns(c.lab.ino), 0, "destroy -target removed web's link");
    expectCode(await c.cli("destroy", "-s", file, "--auto-approve"), 0, "destroy");
  });
});
