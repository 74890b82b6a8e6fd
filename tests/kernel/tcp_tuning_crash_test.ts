/**
 * TcpTuning under faults at every kernel change (engine/fault.ts): a failure
 * at any change of create, update (rules, program build and cgroup
 * at once) or destroy rolls back to exactly what was there, and a kill -9 at
 * any change of a CLI apply or destroy leaves a state the next run converges
 * from, with no extra link on the cgroup.
 */
import assert from "node:assert/strict";
import { applyStack, destroyStack, plan, type Stack } from "../../mod.ts";
import { readMeta, writeMeta } from "../../providers/state/meta.ts";
import { readState } from "../../providers/tcp_tuning/kernel.ts";
import { privateCgroup, TT, type TtLab, withTtLab } from "../helpers/tcp_tuning_lab.ts";
import {
  congestionPair,
  linksOn,
  linksOnPath,
  PORT,
  stackFor,
} from "../helpers/tcp_tuning_checks.ts";
import { failAtEveryChange, killAtEveryChange } from "../helpers/faults.ts";
import { dirEntries, eventually, expectCode, runCli } from "../helpers/sockform_cli.ts";

const REPO = new URL("../../", import.meta.url).pathname;

async function planActions(stack: Stack, lab: TtLab): Promise<string[]> {
  return (await plan(stack, lab.store)).steps.map((s) => s.action);
}

/** The congestion control a matching connection from the lab cgroup gets. */
async function congestionOfMatching(lab: TtLab): Promise<string> {
  return (await lab.connect(TT.matching, PORT, true))[0].congestion;
}

Deno.test("a failure at any kernel change of create, update or destroy rolls back exactly", async (t) => {
  await withTtLab(async (lab) => {
    const { base, other } = await congestionPair(lab);
    await lab.serve(PORT);
    const rule = { match: { remote: "10.88.0.0/16" }, set: { congestion: other } };
    const stack = stackFor(lab, [rule]);
    const dir = `${lab.root}/kt/tune`;
    const second = privateCgroup();
    try {
      await t.step("create", async () => {
        const changes = await failAtEveryChange(() => applyStack(stack, lab.store), async (n) => {
          assert.equal(linksOn(lab), 0, `change ${n}: no link`);
          // A rolled-back create leaves no stack directory (or an empty one).
          assert.deepEqual(dirEntries(`${lab.root}/kt`) ?? [], [], `change ${n}: no pins`);
          assert.equal(await congestionOfMatching(lab), base);
        });
        assert.ok(changes >= 11, `create makes ${changes} change(s)`);
        assert.equal(await congestionOfMatching(lab), other);
      });
      const deployed = readState(dir);
      const moved = stackFor(lab, [{ ...rule, match: { remote: "10.99.0.0/16" } }], second.path);
      await t.step("update (rules, program build and cgroup at once)", async () => {
        // A stale build in the metadata forces the program swap; rollbacks restore it as it was.
        writeMeta(dir, { ...readMeta(dir)!, objectHash: "0".repeat(64) });
        const staleState = readState(dir);
        const changes = await failAtEveryChange(() => applyStack(moved, lab.store), async (n) => {
          assert.deepEqual(readState(dir), staleState, `change ${n}: the old rules and link`);
          assert.deepEqual([linksOn(lab), linksOnPath(second.path)], [1, 0], `change ${n}`);
          assert.equal(await congestionOfMatching(lab), other);
        });
        assert.ok(changes >= 11, `update makes ${changes} change(s)`);
        assert.deepEqual([linksOn(lab), linksOnPath(second.path)], [0, 1]);
        assert.notDeepEqual(readState(dir), deployed);
      });
      await t.step("destroy", async () => {
        const updated = readState(dir);
        const changes = await failAtEveryChange(() => destroyStack(moved, lab.store), (n) => {
          assert.deepEqual(readState(dir), updated, `change ${n}`);
          assert.equal(linksOnPath(second.path), 1, `change ${n}`);
        });
        assert.ok(changes >= 7, `destroy makes ${changes} change(s)`);
        assert.equal(linksOnPath(second.path), 0);
      });
    } finally {
      await destroyStack(stack, lab.store);
      await second.remove();
    }
  });
});

/** Writes a stack file for the CLI with the same stack as `stackFor(lab, rules)`. */
function writeTtStackFile(lab: TtLab, rules: unknown[]): string {
  const file = Deno.makeTempFileSync({ prefix: "sf-tt-crash-", suffix: ".ts" });
  const spec = JSON.stringify({ cgroup: lab.cgroup, rules });
  Deno.writeTextFileSync(
    file,
    `import { Stack, TcpTuning } from "${REPO}mod.ts";\n` +
      `export default new Stack("kt", [new TcpTuning("tune", ${spec})]);\n`,
  );
  return file;
}

Deno.test("kill -9 at any kernel change of a CLI apply or destroy: the next run converges", async (t) => {
  await withTtLab(async (lab) => {
    const { other } = await congestionPair(lab);
    await lab.serve(PORT);
    const rules = [{ match: { remote: "10.88.0.0/16" }, set: { congestion: other } }];
    const stack = stackFor(lab, rules);
    const file = writeTtStackFile(lab, rules);
    const cli = (command: string, fault?: string) =>
      runCli([command, "--auto-approve", "-s", file, "--state-root", lab.root], {
        env: fault ? { SOCKFORM_FAULT: fault } : {},
      });
    const converged = async (command: string) => {
      expectCode(await cli(command), 0, `${command} after the kill`);
      const attached = command === "apply" ? 1 : 0;
      await eventually(`${attached} link(s) on the cgroup`, () => linksOn(lab) === attached);
      assert.deepEqual(await planActions(stack, lab), [command === "apply" ? "no-op" : "create"]);
    };
    try {
      await t.step("apply", async () => {
        const changes = await killAtEveryChange((fault) => cli("apply", fault), {
          converge: async () => {
            await converged("apply");
            assert.equal(await congestionOfMatching(lab), other);
          },
          reset: () => converged("destroy"),
        });
        assert.ok(changes >= 12, `create makes ${changes} change(s)`);
      });
      await t.step("destroy", async () => {
        const changes = await killAtEveryChange((fault) => cli("destroy", fault), {
          converge: () => converged("destroy"),
          reset: () => converged("apply"),
        });
        assert.ok(changes >= 7, `destroy makes ${changes} change(s)`);
      });
    } finally {
      await destroyStack(stack, lab.store);
      Deno.removeSync(file);
    }
  });
});
