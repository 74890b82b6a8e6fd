// A programmable PathManager under a fault at every change of create and
// destroy (engine/fault.ts): after each failed create the netns has its mode
// and limits back and no agent runs; after each failed destroy the netns is
// still in userspace mode with exactly one agent (restarted from its launch
// file) and plan shows nothing to do. Own netns and private bpffs.
import assert from "node:assert/strict";
import { applyStack, destroyStack, kernelStore, plan } from "../../mod.ts";
import { hasChanges } from "../../engine/plan.ts";
import { TestResources } from "../helpers/netns.ts";
import { ipLimits, ipPathManagerMode, scratch, stackOf } from "../helpers/path_manager.ts";
import { failAtEveryChange } from "../helpers/faults.ts";

/** Pids of live agent processes whose command line names `root` (their launch file is under it). */
function agentsUnder(root: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let cmdline = "";
    try {
      cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
    } catch { /* gone meanwhile */ }
    if (cmdline.includes("agent_main.ts") && cmdline.includes(root)) pids.push(Number(entry.name));
  }
  return pids;
}

Deno.test("PathManager agent: a failure at any change of create or destroy leaves no stray and no missing agent", async (t) => {
  await using res = new TestResources();
  const { ns, root } = await scratch(res);
  res.defer("kill stray agents", () => agentsUnder(root).forEach((p) => Deno.kill(p, "SIGKILL")));
  await ns.exec(["ip", "mptcp", "limits", "set", "subflows", "1", "add_addr_accepted", "1"]);
  const store = kernelStore(root);
  const stack = stackOf("agc", {
    netns: ns.path,
    mode: "userspace",
    limits: { subflows: 4 },
    policy: { builtin: "ndiffports", subflows: 2 },
  });
  const original = { mode: await ipPathManagerMode(ns), limits: await ipLimits(ns) };
  try {
    await t.step("create", async () => {
      const changes = await failAtEveryChange(() => applyStack(stack, store), async (n) => {
        const now = { mode: await ipPathManagerMode(ns), limits: await ipLimits(ns) };
        assert.deepEqual(now, original, `create, change ${n}`);
        assert.deepEqual(agentsUnder(root), [], `create, change ${n}: no agent left`);
      });
      assert.ok(changes >= 3, `create makes ${changes} change(s)`);
      assert.equal(agentsUnder(root).length, 1);
    });
    await t.step("destroy", async () => {
      const changes = await failAtEveryChange(() => destroyStack(stack, store), async (n) => {
        assert.equal(await ipPathManagerMode(ns), "userspace", `destroy, change ${n}`);
        assert.equal(agentsUnder(root).length, 1, `destroy, change ${n}: one agent`);
        assert.ok(!hasChanges(await plan(stack, store)), `destroy, change ${n}: plan is clean`);
      });
      assert.ok(changes >= 2, `destroy makes ${changes} change(s)`);
      assert.deepEqual(agentsUnder(root), []);
      const now = { mode: await ipPathManagerMode(ns), limits: await ipLimits(ns) };
      assert.deepEqual(now, original, "destroy gave the mode and limits back");
    });
  } finally {
    await destroyStack(stack, store);
  }
});
