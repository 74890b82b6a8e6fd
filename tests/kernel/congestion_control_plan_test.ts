/**
 * CongestionControl's checks that register nothing, so they run on the host:
 * a TcpTuning congestion that the kernel does not list and no
 * CongestionControl of the stack declares is refused at plan. Everything that
 * registers a congestion control runs inside the VM tier
 * (tests/vm/guest/congestion_control_*_test.ts): a kernel bug on that path can
 * take the whole machine down.
 */
import assert from "node:assert/strict";
import { plan, PlanError, Stack, TcpTuning } from "../../mod.ts";
import { kernelStore } from "../../providers/state/kernel_store.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { TestResources } from "../helpers/netns.ts";
import { privateCgroup } from "../helpers/tcp_tuning_lab.ts";
import { availableCongestion } from "../../providers/congestion_control/kernel.ts";

/** A name no kernel lists and no stack here declares. */
const NAME = "sf_undeclared";

Deno.test("a TcpTuning congestion neither available nor declared is refused at plan", async () => {
  assert.ok(!availableCongestion().includes(NAME), `${NAME} is not listed`);
  await using res = new TestResources();
  const fs = privateBpffs();
  res.defer("unmount the private bpffs", () => fs.cleanup());
  const cgroup = privateCgroup();
  res.defer("remove the cgroup", () => cgroup.remove());
  const rules = [{ set: { congestion: NAME } }];
  const stack = new Stack("kc", [new TcpTuning("tune", { cgroup: cgroup.path, rules })]);
  const e = await plan(stack, kernelStore(fs.root)).then(() => null, (e) => e);
  assert.ok(e instanceof PlanError, String(e));
  assert.ok(
    e.message.startsWith(
      `tune.rules[0].set.congestion: congestion ${NAME} is neither available in the kernel ` +
        "nor declared by a CongestionControl in this stack",
    ),
    e.message,
  );
});
