// @vm-kernels 6.12 7.3
/**
 * CongestionControl under faults at every kernel change (engine/fault.ts),
 * inside the VM (a bad rollback here once hit a kernel BUG that left the
 * host's congestion control list locked): a failure at any change of create
 * or destroy rolls back to exactly what was registered before; one during a
 * new build's link update rolls back the metadata and keeps the new build
 * registered (switching the link back to the replaced map hit a kernel BUG on
 * 6.18), so the next apply updates again. The kill -9 walk is in
 * congestion_control_kill_test.ts.
 *
 * @module
 */
import assert from "node:assert/strict";
import { applyStack, CongestionControl, destroyStack, plan, Stack } from "../../../mod.ts";
import { kernelStore } from "../../../providers/state/kernel_store.ts";
import { privateBpffs } from "../../../lab/bpffs.ts";
import { readMeta, writeMeta } from "../../../providers/state/meta.ts";
import { availableCongestion, readState } from "../../../providers/congestion_control/kernel.ts";
import * as sfReno from "../../../bpf/gen/sf_reno.ts";
import { failAtEveryChange } from "../../helpers/faults.ts";
import { skipOutsideVm, vmKernel } from "./vm_env.ts";
import { dirEntries } from "../../helpers/sockform_cli.ts";

const NAME = "sf_reno";
const stack = () => new Stack("kc", [new CongestionControl("reno", { program: "sfReno" })]);
const listed = () => availableCongestion().includes(NAME);

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  assert.ok(!listed(), `${NAME} is free before the test`);
  const fs = privateBpffs();
  try {
    await fn(fs.root);
  } finally {
    await destroyStack(stack(), kernelStore(fs.root)).catch(() => {});
    fs.cleanup();
  }
  assert.ok(!listed(), `${NAME} unregistered after the test`);
}

function tests(): void {
  Deno.test("a failure at any kernel change of create, update or destroy rolls back exactly", async (t) => {
    await withRoot(async (root) => {
      const store = kernelStore(root);
      const dir = `${root}/kc/reno`;
      await t.step("create", async () => {
        const changes = await failAtEveryChange(() => applyStack(stack(), store), (n) => {
          assert.equal(listed(), false, `change ${n}: nothing registered`);
          assert.deepEqual(dirEntries(`${root}/kc`) ?? [], [], `change ${n}: no pins`);
        });
        assert.ok(changes >= 2, `create makes ${changes} change(s)`);
        assert.ok(listed());
      });
      await t.step("update (a new build by link update)", async () => {
        writeMeta(dir, { ...readMeta(dir)!, objectHash: "0".repeat(64) });
        const stale = { mapId: readState(dir).link!.mapId, meta: readMeta(dir) };
        const changes = await failAtEveryChange(() => applyStack(stack(), store), async (n) => {
          assert.deepEqual(readMeta(dir), stale.meta, `change ${n}: the old record`);
          assert.ok(readState(dir).link!.mapId > 0 && listed(), `change ${n}: still registered`);
          const [step] = (await plan(stack(), store)).steps;
          assert.deepEqual([step.action, step.changes.map((c) => c.path)], ["update", ["program"]]);
        });
        assert.ok(changes >= 1, `update makes ${changes} change(s)`);
        assert.notEqual(readState(dir).link!.mapId, stale.mapId);
        assert.equal(readMeta(dir)!.objectHash, sfReno.objectHash);
      });
      await t.step("destroy", async () => {
        const deployed = readState(dir);
        const changes = await failAtEveryChange(() => destroyStack(stack(), store), (n) => {
          assert.deepEqual(readState(dir), deployed, `change ${n}`);
        });
        assert.ok(changes >= 2, `destroy makes ${changes} change(s)`);
        assert.equal(listed(), false);
      });
    });
  });
}

if (!vmKernel()) skipOutsideVm("CongestionControl fault walk (registers sf_reno)");
else tests();
