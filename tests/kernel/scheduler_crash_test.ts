// Scheduler (kernel-PM roles) under a fault at every kernel change
// (engine/fault.ts): each endpoint flag change, metadata write and directory
// step of create, update and destroy, one run per change. After every failed
// run (fail-at-change:N) iproute2 must read the netns's endpoints and
// net.mptcp.scheduler exactly as before that run. After every killed CLI run
// (kill-at-change:N) the next run must converge, and destroy must give back
// what the stack found. Own netns and private bpffs.
import assert from "node:assert/strict";
import { applyStack, destroyStack, kernelStore, Scheduler, Stack } from "../../mod.ts";
import type { SchedulerSpecInput } from "../../resources/scheduler.ts";
import { type ScratchNetns, TestResources } from "../helpers/netns.ts";
import { runCli } from "../helpers/sockform_cli.ts";
import { ipEndpoints, ipSysctl, scratch } from "../helpers/path_manager.ts";
import { failAtEveryChange, killAtEveryChange } from "../helpers/faults.ts";

const MOD = new URL("../../mod.ts", import.meta.url).href;

async function snapshot(ns: ScratchNetns) {
  return {
    endpoints: await ipEndpoints(ns),
    scheduler: await ipSysctl(ns, "net.mptcp.scheduler"),
  };
}

/** A netns with one endpoint per veth, path 1's already backup, and the spec that flips both. */
async function labNetns(res: TestResources) {
  const { ns, root } = await scratch(res);
  await ns.exec([
    "ip",
    "mptcp",
    "endpoint",
    "add",
    "10.9.0.1",
    "id",
    "1",
    "dev",
    "veth0",
    "subflow",
  ]);
  await ns.exec([
    ...["ip", "mptcp", "endpoint", "add", "10.9.1.1", "id", "2", "dev", "veth1"],
    ...["subflow", "backup"],
  ]);
  const spec = (a: "active" | "backup", b: "active" | "backup"): SchedulerSpecInput => ({
    netns: ns.path,
    paths: [{ match: { dev: "veth0" }, role: a }, { match: { dev: "veth1" }, role: b }],
  });
  return { ns, root, spec };
}

const stackOf = (spec: SchedulerSpecInput) => new Stack("schc", [new Scheduler("s", spec)]);

Deno.test("Scheduler: a failure at any change of create, update or destroy gives the netns back exactly", async (t) => {
  await using res = new TestResources();
  const { ns, root, spec } = await labNetns(res);
  const store = kernelStore(root);
  const original = await snapshot(ns);
  const walk = async (what: string, run: () => Promise<unknown>, atLeast: number) => {
    const before = await snapshot(ns);
    const changes = await failAtEveryChange(run, async (n) => {
      assert.deepEqual(await snapshot(ns), before, `${what}, change ${n}`);
    });
    assert.ok(changes >= atLeast, `${what} makes ${changes} change(s)`);
  };
  try {
    await t.step(
      "create",
      () => walk("create", () => applyStack(stackOf(spec("backup", "active")), store), 4),
    );
    await t.step(
      "update",
      () => walk("update", () => applyStack(stackOf(spec("backup", "backup")), store), 2),
    );
    await t.step("destroy", async () => {
      await walk("destroy", () => destroyStack(stackOf(spec("backup", "backup")), store), 2);
      assert.deepEqual(await snapshot(ns), original, "destroy gave everything back");
    });
  } finally {
    await destroyStack(stackOf(spec("backup", "backup")), store);
  }
});

Deno.test("Scheduler: kill -9 at any change of a CLI apply or destroy: the next run converges and destroy gives the netns back", async (t) => {
  await using res = new TestResources();
  const { ns, root, spec } = await labNetns(res);
  const file = await Deno.makeTempFile({ prefix: "sf-sched-stack-", suffix: ".ts" });
  res.defer("remove the stack file", () => Deno.remove(file));
  await Deno.writeTextFile(
    file,
    `import { Scheduler, Stack } from "${MOD}";\n` +
      `export default new Stack("schk", [new Scheduler("s", ${
        JSON.stringify(spec("backup", "active"))
      })]);\n`,
  );
  const run = (command: string, fault?: string) =>
    runCli([command, "--auto-approve", "-s", file, "--state-root", root], {
      env: fault ? { SOCKFORM_FAULT: fault } : {},
    });
  const succeeds = async (command: string) => {
    const r = await run(command);
    assert.equal(r.code, 0, `${command}: ${r.stderr}`);
  };
  const original = await snapshot(ns);
  await succeeds("apply");
  const applied = await snapshot(ns);
  assert.notDeepEqual(applied, original, "the apply flipped both flags");
  await succeeds("destroy");
  try {
    await t.step("apply", async () => {
      const changes = await killAtEveryChange((fault) => run("apply", fault), {
        converge: async (n) => {
          await succeeds("apply");
          assert.deepEqual(await snapshot(ns), applied, `re-apply after a kill at change ${n}`);
        },
        reset: async (n) => {
          await succeeds("destroy");
          assert.deepEqual(await snapshot(ns), original, `destroy after a kill at change ${n}`);
        },
      });
      assert.ok(changes >= 4, `apply makes ${changes} change(s)`);
    });
    await t.step("destroy", async () => {
      const changes = await killAtEveryChange((fault) => run("destroy", fault), {
        converge: async (n) => {
          await succeeds("destroy");
          assert.deepEqual(await snapshot(ns), original, `destroy after a kill at change ${n}`);
        },
        reset: () => succeeds("apply"),
      });
      assert.ok(changes >= 2, `destroy makes ${changes} change(s)`);
    });
  } finally {
    await run("destroy");
  }
});
