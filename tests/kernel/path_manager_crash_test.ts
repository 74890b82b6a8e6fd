// PathManager under a fault at every kernel change (engine/fault.ts): each
// netlink call and sysctl write of create, update and destroy, one run per
// change. After every failed run (fail-at-change:N), iproute2 must read the
// netns exactly as it was before that run: endpoints with their ids and
// flags, limits, and sysctls. After every killed CLI run (kill-at-change:N),
// the next run must converge, and destroy must still give back what the
// stack found. Own netns and private bpffs.
import assert from "node:assert/strict";
import { applyStack, destroyStack, kernelStore } from "../../mod.ts";
import type { PathManagerSpecInput } from "../../resources/path_manager.ts";
import { TestResources } from "../helpers/netns.ts";
import type { ScratchNetns } from "../helpers/netns.ts";
import { runCli } from "../helpers/sockform_cli.ts";
import {
  ipEndpoints,
  ipEndpointsNoId,
  ipLimits,
  ipSysctl,
  scratch,
  stackOf,
  writeStackFile,
} from "../helpers/path_manager.ts";
import { failAtEveryChange, killAtEveryChange } from "../helpers/faults.ts";

/**
 * Everything of the netns's MPTCP state that the stack may touch, as iproute2
 * reads it. `withIds: false` drops the endpoint ids the kernel picked for
 * declared endpoints without one: a re-create may get other numbers.
 */
async function snapshot(ns: ScratchNetns, withIds = true) {
  return {
    endpoints: withIds ? await ipEndpoints(ns) : await ipEndpointsNoId(ns),
    limits: await ipLimits(ns),
    addAddrTimeout: await ipSysctl(ns, "net.mptcp.add_addr_timeout"),
    staleLossCnt: await ipSysctl(ns, "net.mptcp.stale_loss_cnt"),
  };
}

/**
 * A scratch netns holding someone else's endpoint (id 9) and limits, which the
 * stack takes over and must give back, and the spec the tests declare on it.
 */
async function takenOverNetns(res: TestResources) {
  const { ns, root } = await scratch(res);
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
  return { ns, root, spec };
}

Deno.test("PathManager: a failure at any change of create, update or destroy gives the netns back exactly", async (t) => {
  await using res = new TestResources();
  const { ns, root, spec } = await takenOverNetns(res);
  const store = kernelStore(root);
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

Deno.test("PathManager: kill -9 at any change of a CLI apply or destroy: the next run converges and destroy gives the netns back", async (t) => {
  await using res = new TestResources();
  const { ns, root, spec } = await takenOverNetns(res);
  const file = await writeStackFile("pmk", { pm: spec });
  res.defer("remove the stack file", () => Deno.remove(file));
  const run = (command: string, fault?: string) =>
    runCli([command, "--auto-approve", "-s", file, "--state-root", root], {
      env: fault ? { SOCKFORM_FAULT: fault } : {},
    });
  const original = await snapshot(ns);
  const succeeds = async (command: string) => {
    const r = await run(command);
    assert.equal(r.code, 0, `${command}: ${r.stderr}`);
  };
  await succeeds("apply");
  const applied = await snapshot(ns, false);
  await succeeds("destroy");
  try {
    await t.step("apply", async () => {
      const changes = await killAtEveryChange((fault) => run("apply", fault), {
        converge: async (n) => {
          await succeeds("apply");
          assert.deepEqual(
            await snapshot(ns, false),
            applied,
            `re-apply after a kill at change ${n}`,
          );
        },
        reset: async (n) => {
          await succeeds("destroy");
          assert.deepEqual(await snapshot(ns), original, `destroy after a kill at change ${n}`);
        },
      });
      assert.ok(changes >= 5, `apply makes ${changes} change(s)`);
    });
    await t.step("destroy", async () => {
      const changes = await killAtEveryChange((fault) => run("destroy", fault), {
        converge: async (n) => {
          await succeeds("destroy");
          assert.deepEqual(await snapshot(ns), original, `destroy after a kill at change ${n}`);
        },
        reset: () => succeeds("apply"),
      });
      assert.ok(changes >= 5, `destroy makes ${changes} change(s)`);
    });
  } finally {
    await run("destroy");
  }
});
