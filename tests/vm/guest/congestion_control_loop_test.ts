// @vm-kernels 6.12 7.3
/**
 * CongestionControl's plan/apply loop inside the VM (registering a congestion
 * control can take a kernel down, see tests/vm/README.md; private bpffs; the
 * registered name is global, so each test checks it is free first): the plan
 * registers a declared congestion before the TcpTuning naming it, no-op
 * re-plan, drift (link detached, link pin removed) repaired by apply, a new
 * build by one link update, a name someone else registered refused, and a
 * destroy that leaves nothing registered. The undeclared-congestion refusal,
 * which registers nothing, stays on the host (tests/kernel/congestion_control_plan_test.ts).
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  applyStack,
  CongestionControl,
  destroyStack,
  plan,
  PlanError,
  Stack,
  TcpTuning,
} from "../../../mod.ts";
import { kernelStore } from "../../../providers/state/kernel_store.ts";
import { privateBpffs } from "../../../lab/bpffs.ts";
import { TestResources } from "../../helpers/netns.ts";
import { privateCgroup } from "../../helpers/tcp_tuning_lab.ts";
import { readMeta, writeMeta } from "../../../providers/state/meta.ts";
import {
  availableCongestion,
  PIN,
  readState,
} from "../../../providers/congestion_control/kernel.ts";
import { StructOpsLink, StructOpsObject } from "../../../providers/libbpf/struct_ops.ts";
import { openPin, unpin } from "../../../providers/libbpf/pins.ts";
import * as sfReno from "../../../bpf/gen/sf_reno.ts";
import type { StateStore } from "../../../engine/store.ts";
import { skipOutsideVm, vmKernel } from "./vm_env.ts";

const NAME = "sf_reno";

interface Rig {
  store: StateStore;
  root: string;
  cgroup: string;
}

async function withRig(fn: (rig: Rig) => Promise<void>): Promise<void> {
  assert.ok(!availableCongestion().includes(NAME), `${NAME} is free before the test`);
  await using res = new TestResources();
  const fs = privateBpffs();
  res.defer("unmount the private bpffs", () => fs.cleanup());
  const cgroup = privateCgroup();
  res.defer("remove the cgroup", () => cgroup.remove());
  await fn({ store: kernelStore(fs.root), root: fs.root, cgroup: cgroup.path });
}

const ccStack = () => new Stack("kc", [new CongestionControl("reno", { program: "sfReno" })]);

async function planError(stack: Stack, store: StateStore): Promise<string> {
  const e = await plan(stack, store).then(() => null, (e) => e);
  assert.ok(e instanceof PlanError, String(e));
  return e.message;
}

/** Plans, checks the one step's action and change paths, applies, and checks NAME is listed. */
/** Polls (bounded by `ms`) until `name` is no longer an available congestion control. */
async function congestionGone(name: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (availableCongestion().includes(name)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

async function repairs(rig: Rig, action: string, paths: string[]): Promise<void> {
  const p = await plan(ccStack(), rig.store);
  const step = p.steps[0];
  assert.deepEqual([step.action, step.changes.map((c) => c.path)], [action, paths]);
  assert.equal(step.hitless, true);
  await applyStack(ccStack(), rig.store);
  assert.ok(availableCongestion().includes(NAME), `${NAME} registered again`);
  assert.deepEqual((await plan(ccStack(), rig.store)).steps.map((s) => s.action), ["no-op"]);
}

function tests(): void {
  Deno.test("a declared congestion registers before the TcpTuning naming it, destroy unregisters", async () => {
    await withRig(async (rig) => {
      const rules = [{ set: { congestion: NAME } }];
      const both = new Stack("kc", [
        new TcpTuning("tune", { cgroup: rig.cgroup, rules }),
        new CongestionControl("reno", { program: "sfReno" }),
      ]);
      const steps = (await plan(both, rig.store)).steps;
      assert.deepEqual(steps.map((s) => `${s.action} ${s.address}`), [
        "create CongestionControl.reno",
        "create TcpTuning.tune",
      ]);
      assert.equal(steps[0].changes[0].after, `${NAME} registered`);
      await applyStack(both, rig.store);
      assert.ok(availableCongestion().includes(NAME));
      await destroyStack(both, rig.store);
      assert.ok(!availableCongestion().includes(NAME), "destroy unregistered it");
    });
  });

  loopTest();
  foreignTest();
}

function loopTest(): void {
  Deno.test("CongestionControl: no-op re-plan, drift repaired, new build by link update, destroy", async (t) => {
    await withRig(async (rig) => {
      const dir = `${rig.root}/kc/reno`;
      try {
        await applyStack(ccStack(), rig.store);
        const first = readState(dir).link!;
        assert.ok(first.mapId > 0 && availableCongestion().includes(NAME));
        assert.deepEqual((await plan(ccStack(), rig.store)).steps.map((s) => s.action), ["no-op"]);
        await t.step("a detached link", async () => {
          const link = StructOpsLink.fromFd(openPin(`${dir}/${PIN.link}`, "link")!);
          try {
            link.detach();
          } finally {
            link.close();
          }
          assert.ok(!availableCongestion().includes(NAME), "detaching unregistered it");
          await repairs(rig, "update", ["link"]);
        });
        await t.step("a removed link pin", async () => {
          unpin(`${dir}/${PIN.link}`);
          // The kernel frees a link whose last reference was the pin after a grace period,
          // not within the unlink: wait (bounded) for the name to go.
          assert.ok(await congestionGone(NAME, 10_000), "the last reference went");
          await repairs(rig, "update", ["link"]);
        });
        await t.step("a new build replaces the registered one in one link update", async () => {
          const before = readState(dir).link!;
          writeMeta(dir, { ...readMeta(dir)!, objectHash: "0".repeat(64) }); // an older build
          await repairs(rig, "update", ["program"]);
          const after = readState(dir).link!;
          assert.notEqual(after.mapId, before.mapId, "the link registers a new map");
          assert.equal(readMeta(dir)!.objectHash, sfReno.objectHash);
        });
      } finally {
        await destroyStack(ccStack(), rig.store);
      }
      assert.ok(!availableCongestion().includes(NAME), "destroy leaves nothing registered");
      assert.deepEqual(
        [...Deno.readDirSync(rig.root)].map((e) => e.name).filter((n) => n === "kc"),
        [],
      );
    });
  });
}

function foreignTest(): void {
  Deno.test("a name someone else registered is refused at plan, and left alone", async () => {
    await withRig(async (rig) => {
      const ops = StructOpsObject.load(sfReno.object, "foreign", sfReno.maps.sf_reno);
      const link = ops.register();
      try {
        const msg = await planError(ccStack(), rig.store);
        assert.ok(
          msg.startsWith(
            `reno.program: congestion control ${NAME} is already registered by something else`,
          ),
          msg,
        );
        assert.ok(availableCongestion().includes(NAME), "the foreign registration stays");
      } finally {
        link.close();
        ops.close();
      }
      assert.ok(!availableCongestion().includes(NAME));
    });
  });
}

if (!vmKernel()) skipOutsideVm("CongestionControl plan/apply loop (registers sf_reno)");
else tests();
