/**
 * PolicyChain under faults at every kernel change (engine/fault.ts): a
 * failure at any change of create, update (rules, a new program build and a
 * moved hook at once) or destroy rolls back to exactly what was there, and a
 * kill -9 at any change of a CLI apply or destroy leaves a state the next
 * run converges from, with no extra program on any tcx hook.
 */
import assert from "node:assert/strict";
import { applyStack, destroyStack, kernelStore, plan, PolicyChain, Stack } from "../../mod.ts";
import type { PolicyChainSpecInput } from "../../resources/policy_chain.ts";
import type { StateStore } from "../../engine/store.ts";
import { readMeta, writeMeta } from "../../providers/state/meta.ts";
import { queryProgIds } from "../../providers/libbpf/attachments.ts";
import { inNetns } from "../../providers/system/netns.ts";
import { listInterfaces } from "../../providers/system/interfaces.ts";
import { ATTACH_TYPE, readState } from "../../providers/policy_chain/kernel.ts";
import { tcFilters } from "../../providers/policy_chain/tc.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { netnsWithTwoVeths, type ScratchNetns, TestResources } from "../helpers/netns.ts";
import { failAtEveryChange, killAtEveryChange } from "../helpers/faults.ts";
import { dirEntries, expectCode, runCli } from "../helpers/sockform_cli.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const HOOKS = ["ingress", "egress"] as const;

function spec(ns: ScratchNetns, v: 1 | 2, via?: "tc"): PolicyChainSpecInput {
  const join = { select: { mptcp: "join" as const }, act: [{ drop: true as const }] };
  const mark = { select: { remotePort: 443 }, act: [{ mark: 7 }, { record: true as const }] };
  return v === 1
    ? {
      netns: ns.path,
      via,
      attach: [{ dev: "veth0", hooks: ["ingress", "egress"] }],
      rules: [join],
    }
    : {
      netns: ns.path,
      via,
      attach: [{ dev: "veth0", hooks: ["ingress"] }, { dev: "veth1", hooks: ["egress"] }],
      rules: [mark, join],
    };
}

const stackOf = (s: PolicyChainSpecInput) => new Stack("pcc", [new PolicyChain("chain", s)]);

/** Programs on each tcx hook of both devices, e.g. `{ "veth0 ingress": 1, ... }`. */
async function hookCounts(ns: ScratchNetns): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const i of (await listInterfaces(ns.path)).filter((i) => i.name.startsWith("veth"))) {
    for (const hook of HOOKS) {
      out[`${i.name} ${hook}`] = inNetns(ns.path, () => queryProgIds(i.ifindex, ATTACH_TYPE[hook]))
        .length;
    }
  }
  return out;
}

const none = { "veth0 ingress": 0, "veth0 egress": 0, "veth1 ingress": 0, "veth1 egress": 0 };
const v1Hooks = { ...none, "veth0 ingress": 1, "veth0 egress": 1 };

async function lab(res: TestResources) {
  const bpffs = privateBpffs();
  res.defer("unmount bpffs", () => bpffs.cleanup());
  const ns = await netnsWithTwoVeths(res, "sf-pcc");
  return { ns, root: bpffs.root, store: kernelStore(bpffs.root) as StateStore };
}

Deno.test("a failure at any kernel change of create, update or destroy rolls back exactly", async (t) => {
  await using res = new TestResources();
  const { ns, root, store } = await lab(res);
  const dir = `${root}/pcc/chain`;
  const [one, two] = [stackOf(spec(ns, 1)), stackOf(spec(ns, 2))];
  res.defer("destroy", async () => {
    await destroyStack(two, store);
  });
  await t.step("create", async () => {
    const changes = await failAtEveryChange(() => applyStack(one, store), async (n) => {
      assert.deepEqual(dirEntries(`${root}/pcc`) ?? [], [], `change ${n}: no pins`);
      assert.deepEqual(await settledCounts(ns, none), none, `change ${n}`);
    });
    assert.ok(changes >= 8, `create makes ${changes} change(s)`);
    assert.deepEqual(await hookCounts(ns), v1Hooks);
  });
  await t.step("update (rules, program build and hooks at once)", async () => {
    writeMeta(dir, { ...readMeta(dir)!, objectHash: "0".repeat(64) }); // forces a program swap
    const before = readState(dir);
    const changes = await failAtEveryChange(() => applyStack(two, store), async (n) => {
      assert.deepEqual(readState(dir), before, `change ${n}: the old rules, programs and links`);
      assert.deepEqual(await settledCounts(ns, v1Hooks), v1Hooks, `change ${n}`);
    });
    assert.ok(changes >= 6, `update makes ${changes} change(s)`);
    const v2Hooks = { ...none, "veth0 ingress": 1, "veth1 egress": 1 };
    assert.deepEqual(await settledCounts(ns, v2Hooks), v2Hooks);
  });
  await t.step("destroy", async () => {
    const before = readState(dir);
    const changes = await failAtEveryChange(() => destroyStack(two, store), (n) => {
      assert.deepEqual(readState(dir), before, `change ${n}`);
    });
    assert.ok(changes >= 6, `destroy makes ${changes} change(s)`);
    assert.deepEqual(await hookCounts(ns), none);
  });
});

/** Hook counts once detached links are released (the kernel frees them from a workqueue). */
async function settledCounts(ns: ScratchNetns, want: Record<string, number>) {
  for (let i = 0; i < 100; i++) {
    const now = await hookCounts(ns);
    if (JSON.stringify(now) === JSON.stringify(want)) return now;
    await new Promise((r) => setTimeout(r, 50));
  }
  return await hookCounts(ns);
}

/** What a hook holds of ours after a converged run: tcx programs or tc filters. */
async function hooksHeld(ns: ScratchNetns, via?: "tc") {
  if (!via) return await settledCounts(ns, v1Hooks);
  return Object.fromEntries(Object.entries(filterProgs(ns)).map(([k, v]) => [k, v.length]));
}

async function killWalk(t: Deno.TestContext, via?: "tc") {
  await using res = new TestResources();
  const { ns, root, store } = await lab(res);
  const s = spec(ns, 1, via);
  const file = Deno.makeTempFileSync({ prefix: "sf-pc-crash-", suffix: ".ts" });
  res.defer("remove the stack file", () => Deno.removeSync(file));
  Deno.writeTextFileSync(
    file,
    `import { PolicyChain, Stack } from "${REPO}mod.ts";\n` +
      `export default new Stack("pcc", [new PolicyChain("chain", ${JSON.stringify(s)})]);\n`,
  );
  res.defer("destroy", async () => {
    await destroyStack(stackOf(s), store);
  });
  const cli = (command: string, fault?: string) =>
    runCli([command, "--auto-approve", "-s", file, "--state-root", root], {
      env: fault ? { SOCKFORM_FAULT: fault } : {},
    });
  const converged = async (command: "apply" | "destroy", n = 0) => {
    expectCode(await cli(command), 0, `${command} after the kill`);
    const want = command === "apply" ? v1Hooks : none;
    const held = via ? await hooksHeld(ns, via) : await settledCounts(ns, want);
    assert.deepEqual(held, want, `one program per declared hook (after kill ${n})`);
    const actions = (await plan(stackOf(s), store)).steps.map((x) => x.action);
    assert.deepEqual(actions, [command === "apply" ? "no-op" : "create"]);
  };
  await t.step("apply", async () => {
    const changes = await killAtEveryChange((fault) => cli("apply", fault), {
      converge: (n) => converged("apply", n),
      reset: (n) => converged("destroy", n),
    });
    assert.ok(changes >= 8, `create makes ${changes} change(s)`);
  });
  await t.step("destroy", async () => {
    const changes = await killAtEveryChange((fault) => cli("destroy", fault), {
      converge: (n) => converged("destroy", n),
      reset: (n) => converged("apply", n),
    });
    assert.ok(changes >= 6, `destroy makes ${changes} change(s)`);
  });
}

Deno.test("kill -9 at any kernel change of a CLI apply or destroy: the next run converges", (t) =>
  killWalk(t));

Deno.test("via tc: kill -9 at any change of a CLI apply or destroy: the next run converges", (t) =>
  killWalk(t, "tc"));

/** Program ids of the bpf filters on each device's hooks (the tc path). */
function filterProgs(ns: ScratchNetns): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const dev of ["veth0", "veth1"]) {
    for (const hook of HOOKS) {
      out[`${dev} ${hook}`] = (tcFilters(ns.path, dev, hook) ?? []).map((f) => f.progId).sort();
    }
  }
  return out;
}

Deno.test("via tc: a failure at any change of create, update or destroy rolls back exactly", async (t) => {
  await using res = new TestResources();
  const { ns, root, store } = await lab(res);
  const dir = `${root}/pcc/chain`;
  const [one, two] = [stackOf(spec(ns, 1, "tc")), stackOf(spec(ns, 2, "tc"))];
  res.defer("destroy", async () => {
    await destroyStack(two, store);
  });
  const empty = filterProgs(ns);
  await t.step("create", async () => {
    const changes = await failAtEveryChange(() => applyStack(one, store), (n) => {
      assert.deepEqual(dirEntries(`${root}/pcc`) ?? [], [], `change ${n}: no pins`);
      assert.deepEqual(filterProgs(ns), empty, `change ${n}: no filter`);
    });
    assert.ok(changes >= 8, `create makes ${changes} change(s)`);
  });
  await t.step("update (rules, program build and hooks at once)", async () => {
    writeMeta(dir, { ...readMeta(dir)!, objectHash: "0".repeat(64) });
    const [state, filters] = [readState(dir), filterProgs(ns)];
    const changes = await failAtEveryChange(() => applyStack(two, store), (n) => {
      assert.deepEqual(readState(dir), state, `change ${n}: the old rules, programs and filters`);
      assert.deepEqual(filterProgs(ns), filters, `change ${n}`);
    });
    assert.ok(changes >= 6, `update makes ${changes} change(s)`);
    const now = filterProgs(ns);
    assert.deepEqual([now["veth0 ingress"].length, now["veth1 egress"].length], [1, 1]);
    assert.deepEqual([now["veth0 egress"], now["veth1 ingress"]], [[], []]);
  });
  await t.step("destroy", async () => {
    const [state, filters] = [readState(dir), filterProgs(ns)];
    const changes = await failAtEveryChange(() => destroyStack(two, store), (n) => {
      assert.deepEqual(readState(dir), state, `change ${n}`);
      assert.deepEqual(filterProgs(ns), filters, `change ${n}`);
    });
    assert.ok(changes >= 6, `destroy makes ${changes} change(s)`);
    assert.deepEqual(filterProgs(ns), empty);
  });
});
