// PathManager and its netns over time: a spec without `netns` manages the
// caller's netns; a recreated netns is taken over afresh; a vanished netns
// can still be destroyed; `show` tells the stack's endpoints from others'.
import assert from "node:assert/strict";
import {
  applyStack,
  destroyStack,
  kernelStore,
  PathManager,
  plan,
  showStack,
  Stack,
} from "../../mod.ts";
import { PlanError } from "../../engine/errors.ts";
import { listEndpoints } from "../../providers/netlink/mptcp_pm.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { type ScratchNetns, TestResources } from "../helpers/netns.ts";
import { ipEndpointsNoId, ipLimits, writeStackFile } from "../helpers/path_manager.ts";
import { programCommand } from "../../providers/system/programs.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function setup(res: TestResources): Promise<{ ns: ScratchNetns; root: string }> {
  const fs = privateBpffs();
  res.defer("unmount bpffs", () => fs.cleanup());
  const ns = await res.netns("sf-pmn");
  await ns.exec(["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
  await ns.exec(["ip", "addr", "add", "10.8.0.1/24", "dev", "v0"]);
  return { ns, root: fs.root };
}

async function cliInside(ns: ScratchNetns, args: string[]): Promise<number> {
  const out = await programCommand([
    "ip",
    "netns",
    "exec",
    ns.name,
    Deno.execPath(),
    "run",
    "-A",
    MAIN,
    ...args,
    "--no-color",
  ], {
    stdout: "null",
    stderr: "piped",
  }).output();
  if (out.code === 1) console.error(new TextDecoder().decode(out.stderr));
  return out.code;
}

Deno.test("PathManager without netns manages the netns the CLI runs in", async () => {
  await using res = new TestResources();
  const { ns, root } = await setup(res);
  const host = listEndpoints();
  const file = await writeStackFile("caller", {
    pm: { endpoints: [{ address: "10.8.0.1", flags: ["subflow"] }], limits: { subflows: 4 } },
  });
  res.defer("remove stack file", () => Deno.remove(file));
  const args = ["-s", file, "--state-root", root];
  assert.equal(await cliInside(ns, ["apply", "--auto-approve", ...args]), 0);
  assert.deepEqual(await ipEndpointsNoId(ns), [{ address: "10.8.0.1", flags: ["subflow"] }]);
  assert.equal((await ipLimits(ns)).subflows, 4);
  assert.equal(await cliInside(ns, ["plan", "--detailed-exitcode", ...args]), 0);
  assert.equal(await cliInside(ns, ["destroy", "--auto-approve", ...args]), 0);
  assert.deepEqual(await ipEndpointsNoId(ns), []);
  assert.deepEqual(listEndpoints(), host);
});

Deno.test("PathManager takes a recreated netns over afresh and lets go of a vanished one", async (t) => {
  await using res = new TestResources();
  const { ns, root } = await setup(res);
  const store = kernelStore(root);
  const stack = new Stack("life", [
    new PathManager("pm", { netns: ns.path, limits: { subflows: 5, addAddrAccepted: 3 } }),
  ]);
  // Distinctive originals: if they were restored into the recreated netns, destroy would show them.
  await ns.exec(["ip", "mptcp", "limits", "set", "subflows", "1", "add_addr_accepted", "7"]);
  await applyStack(stack, store);

  await t.step("recreated: plan replaces it, and nothing of the old netns leaks in", async () => {
    await ns.cleanup();
    await programCommand(["ip", "netns", "add", ns.name]).output();
    const fresh = await ipLimits(ns);
    const p = await plan(stack, store);
    assert.equal(p.steps[0].action, "replace");
    assert.match(p.steps[0].changes[0].reason, /recreated/);
    await applyStack(stack, store);
    assert.equal((await ipLimits(ns)).subflows, 5);
    await destroyStack(stack, store);
    assert.deepEqual(await ipLimits(ns), fresh);
  });

  await t.step("vanished: plan says so, destroy still removes the resource", async () => {
    await applyStack(stack, store);
    await ns.cleanup();
    await assert.rejects(
      plan(stack, store),
      (e: unknown) => e instanceof PlanError && /does not exist/.test(e.message),
    );
    const out = await destroyStack(stack, store);
    assert.equal(out.applied, 1);
    assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), []);
  });
});

Deno.test("show tells the stack's endpoints from others' (exclusive: false)", async () => {
  await using res = new TestResources();
  const { ns, root } = await setup(res);
  await ns.exec(["ip", "addr", "add", "10.8.0.2/24", "dev", "v0"]);
  const store = kernelStore(root);
  const stack = new Stack("show", [
    new PathManager("pm", {
      netns: ns.path,
      exclusive: false,
      endpoints: [{ address: "10.8.0.1", flags: ["subflow"] }],
    }),
  ]);
  await applyStack(stack, store);
  await ns.exec(["ip", "mptcp", "endpoint", "add", "10.8.0.2", "signal"]);
  const [shown] = await showStack(stack, store);
  const details = shown.details as {
    mode: string;
    endpoints: { address: string; owner: string }[];
  };
  assert.equal(shown.inSync, true);
  assert.equal(details.mode, "kernel");
  assert.deepEqual(details.endpoints.map((e) => [e.address, e.owner]), [
    ["10.8.0.1", "stack"],
    ["10.8.0.2", "other"],
  ]);
  await destroyStack(stack, store);
});
