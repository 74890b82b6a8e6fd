// PathManager under a failure at every kernel change (engine/fault.ts,
// fail-at-change:N): each netlink call and sysctl write of create, update and
// destroy, one run per change. After every failed run, iproute2 must read the
// netns exactly as it was before that run: endpoints with their ids and
// flags, limits, and sysctls. Own netns and private bpffs.
import assert from "node:assert/strict";
import { applyStack, destroyStack, kernelStore } from "../../mod.ts";
import type { PathManagerSpecInput } from "../../resources/path_manager.ts";
import { TestResources } from "../helpers/netns.ts";
import type { ScratchNetns } from "../helpers/netns.ts";
import { ipEndpoints, ipLimits, ipSysctl, scratch, stackOf } from "../helpers/path_manager.ts";
import { failAtEveryChange } from "../helpers/faults.ts";

/** Everything of the netns's MPTCP state that the stack may touch, as iproute2 reads it. */
async function snapshot(ns: ScratchNetns) {
  return {
    endpoints: await ipEndpoints(ns),
    limits: await ipLimits(ns),
    addAddrTimeout: await ipSysctl(ns, "net.mptcp.add_addr_timeout"),
    staleLossCnt: await ipSysctl(ns, "net.mptcp.stale_loss_cnt"),
  };
}

Deno.test("PathManager: a failure at any change of create, update or destroy gives the netns back exactly", async (t) => {
  await using res = new TestResources();
  const { ns, root } = await scratch(res);
  const store = kernelStore(root);
  // Someone else's endpoint and settings, which the stack takes over and must give back.
  await ns.exec(["ip", "mptcp", "endpoint", "add", "10.9.1.1", "id", "9", "signal"]);
  await ns.exec(["ip", "mptcp", "limits", "set", "subflows", "1", "add_addr_accepted", "1"]);
  const spec: PathManagerSpecInput = {
    netns: ns.path,
    limits: { subflows: 3, addAddrAccepted: 2 },
    endpoints: [
      { address: "10.9.0.1", dev: "veth0", flags: ["subflow"] },
      { address: "fd00:9::1", flags: ["signal", "backup"] },
    ],
    sysctls: { addAddrTimeout: 30, staleLossCnt: 6 },
  };
  const edited: PathManagerSpecInput = {
    ...spec,
    limits: { subflows: 4, addAddrAccepted: 2 },
    endpoints: [
      { address: "10.9.0.1", dev: "veth0", flags: ["subflow", "backup"] },
      { address: "10.9.1.1", flags: ["subflow"] },
    ],
    sysctls: { addAddrTimeout: 45, staleLossCnt: 6 },
  };
  const original = await snapshot(ns);
  const walk = async (what: string, run: () => Promise<unknown>, atLeast: number) => {
    const before = await snapshot(ns);
    const changes = await failAtEveryChange(run, async (n) => {
      assert.deepEqual(await snapshot(ns), before, `${what}, change ${n}`);
    });
    assert.ok(changes >= atLeast, `${what} makes ${changes} change(s)`);
  };
  try {
    await t.step("create", () => walk("create", () => applyStack(stackOf("pmc", spec), store), 5));
    await t.step(
      "update",
      () => walk("update", () => applyStack(stackOf("pmc", edited), store), 4),
    );
    await t.step("destroy", async () => {
      await walk("destroy", () => destroyStack(stackOf("pmc", edited), store), 4);
      assert.deepEqual(await snapshot(ns), original, "destroy gave everything back");
    });
  } finally {
    await destroyStack(stackOf("pmc", edited), store);
  }
});
