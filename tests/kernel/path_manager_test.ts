// PathManager against a real kernel: apply read back with iproute2, no-op
// re-plans, drift and repair through the CLI, hitless flag updates, rollback,
// fromInterfaces following addresses, and destroy giving the netns back (the
// plan-time refusals are in path_manager_input_test.ts). Each test uses its
// own netns and private bpffs.
import assert from "node:assert/strict";
import { applyStack, destroyStack, kernelStore, plan } from "../../mod.ts";
import type { PathManagerSpecInput } from "../../resources/path_manager.ts";
import { hasChanges } from "../../engine/plan.ts";
import { TestResources } from "../helpers/netns.ts";
import {
  cli,
  ipEndpoints,
  ipEndpointsNoId,
  ipLimits,
  ipPathManagerMode,
  ipSysctl,
  planError,
  scratch,
  stackOf,
  writeStackFile,
} from "../helpers/path_manager.ts";

Deno.test("PathManager: apply, iproute2 agrees, drift is repaired, destroy restores the netns", async (t) => {
  await using res = new TestResources();
  const { ns, root } = await scratch(res);
  // What the netns holds before the stack takes over, to be given back at the end.
  await ns.exec(["ip", "mptcp", "endpoint", "add", "10.9.1.1", "id", "9", "signal"]);
  await ns.exec(["ip", "mptcp", "limits", "set", "subflows", "1", "add_addr_accepted", "1"]);
  await ns.exec(["sysctl", "-qw", "net.mptcp.add_addr_timeout=77"]);
  const before = {
    endpoints: await ipEndpoints(ns),
    limits: await ipLimits(ns),
    staleLossCnt: await ipSysctl(ns, "net.mptcp.stale_loss_cnt"),
  };
  const spec: PathManagerSpecInput = {
    netns: ns.path,
    mode: "kernel",
    limits: { subflows: 3, addAddrAccepted: 2 },
    endpoints: [
      { address: "10.9.0.1", dev: "veth0", flags: ["subflow"] },
      { address: "fd00:9::1", flags: ["signal", "backup"] },
      { address: "10.9.1.1", port: 8443, flags: ["signal"] },
    ],
    sysctls: { addAddrTimeout: 30, staleLossCnt: 6 },
  };
  const file = await writeStackFile("pmk", { pm: spec });
  res.defer("remove stack file", () => Deno.remove(file));
  const args = ["-s", file, "--state-root", root];

  await t.step("apply: iproute2 shows exactly the declared endpoints and limits", async () => {
    assert.equal((await cli(["plan", "--detailed-exitcode", ...args])).code, 2);
    const applied = await cli(["apply", "--auto-approve", ...args]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.deepEqual(await ipEndpointsNoId(ns), [
      { address: "10.9.0.1", dev: "veth0", flags: ["subflow"] },
      { address: "10.9.1.1", port: 8443, flags: ["signal"] },
      { address: "fd00:9::1", flags: ["signal", "backup"] },
    ]);
    assert.deepEqual(await ipLimits(ns), { subflows: 3, addAddrAccepted: 2 });
    assert.equal(await ipSysctl(ns, "net.mptcp.add_addr_timeout"), "30");
    assert.equal(await ipSysctl(ns, "net.mptcp.stale_loss_cnt"), "6");
  });

  await t.step("re-plan is a no-op (exit 0)", async () => {
    const replan = await cli(["plan", "--detailed-exitcode", ...args]);
    assert.equal(replan.code, 0, replan.stdout + replan.stderr);
    assert.match(replan.stdout, /No changes/);
  });

  await t.step("an endpoint deleted by hand is drift (exit 2); apply puts it back", async () => {
    const victim = (await ipEndpoints(ns)).find((e) => e.address === "10.9.0.1")!;
    await ns.exec(["ip", "mptcp", "endpoint", "del", "id", String(victim.id)]);
    const drift = await cli(["plan", "--detailed-exitcode", ...args]);
    assert.equal(drift.code, 2);
    assert.match(drift.stdout, /drift \+ endpoints\[0\]: 10\.9\.0\.1 subflow dev veth0/);
    assert.equal((await cli(["apply", "--auto-approve", ...args])).code, 0);
    assert.ok((await ipEndpoints(ns)).some((e) => e.address === "10.9.0.1" && e.dev === "veth0"));
  });

  await t.step("a flag changed by hand is drift, repaired in place (same id)", async () => {
    const ep = (await ipEndpoints(ns)).find((e) => e.address === "fd00:9::1")!;
    await ns.exec(["ip", "mptcp", "endpoint", "change", "id", String(ep.id), "nobackup"]);
    const drift = await cli(["plan", "--detailed-exitcode", ...args]);
    assert.equal(drift.code, 2);
    assert.match(drift.stdout, /drift ~ endpoints\[1\]: .* SET_FLAGS/);
    assert.equal((await cli(["apply", "--auto-approve", ...args])).code, 0);
    const after = (await ipEndpoints(ns)).find((e) => e.address === "fd00:9::1")!;
    assert.deepEqual(after, { ...ep, flags: ["signal", "backup"] });
  });

  await t.step("an endpoint added by someone else is drift and removed (exclusive)", async () => {
    await ns.exec(["ip", "mptcp", "endpoint", "add", "10.9.1.1", "subflow"]);
    const drift = await cli(["plan", "--detailed-exitcode", ...args]);
    assert.equal(drift.code, 2);
    assert.match(drift.stdout, /drift - endpoints\[id \d+\]: 10\.9\.1\.1 subflow .*exclusive/);
    assert.equal((await cli(["apply", "--auto-approve", ...args])).code, 0);
    assert.equal((await ipEndpoints(ns)).length, 3);
  });

  await t.step("limits changed by hand are drift too", async () => {
    await ns.exec(["ip", "mptcp", "limits", "set", "subflows", "0"]);
    const drift = await cli(["plan", "--detailed-exitcode", ...args]);
    assert.match(drift.stdout, /drift ~ limits\.subflows: 0 → 3/);
    assert.equal((await cli(["apply", "--auto-approve", ...args])).code, 0);
    assert.deepEqual(await ipLimits(ns), { subflows: 3, addAddrAccepted: 2 });
  });

  await t.step("destroy gives back the original endpoints, limits and sysctls", async () => {
    const destroyed = await cli(["destroy", "--auto-approve", ...args]);
    assert.equal(destroyed.code, 0, destroyed.stderr);
    assert.deepEqual(await ipEndpoints(ns), before.endpoints);
    assert.deepEqual(await ipLimits(ns), before.limits);
    assert.equal(await ipSysctl(ns, "net.mptcp.add_addr_timeout"), "77");
    assert.equal(await ipSysctl(ns, "net.mptcp.stale_loss_cnt"), before.staleLossCnt);
  });
});

Deno.test("PathManager: spec edits — hitless backup toggle, delete+add otherwise, rollback on failure", async (t) => {
  await using res = new TestResources();
  const { ns, root } = await scratch(res);
  const store = kernelStore(root);
  const spec = (flags: ("subflow" | "backup" | "signal")[]): PathManagerSpecInput => ({
    netns: ns.path,
    endpoints: [{ address: "10.9.0.1", flags }],
    limits: { subflows: 2 },
  });
  await applyStack(stackOf("edit", spec(["subflow"])), store);
  const [first] = await ipEndpoints(ns);

  await t.step("backup added in the spec: an in-place, hitless update keeping the id", async () => {
    const p = await plan(stackOf("edit", spec(["subflow", "backup"])), store);
    assert.equal(p.steps[0].action, "update");
    assert.equal(p.steps[0].hitless, true);
    await applyStack(stackOf("edit", spec(["subflow", "backup"])), store);
    assert.deepEqual(await ipEndpoints(ns), [{ ...first, flags: ["subflow", "backup"] }]);
  });

  await t.step("subflow → signal: delete + add, marked not hitless", async () => {
    const p = await plan(stackOf("edit", spec(["signal"])), store);
    assert.equal(p.steps[0].hitless, false);
    await applyStack(stackOf("edit", spec(["signal"])), store);
    assert.deepEqual((await ipEndpoints(ns)).map((e) => e.flags), [["signal"]]);
  });

  await t.step("a failed apply rolls endpoints, limits and sysctls back", async () => {
    const before = { eps: await ipEndpoints(ns), limits: await ipLimits(ns) };
    const timeout = await ipSysctl(ns, "net.mptcp.add_addr_timeout");
    const file = await writeStackFile("edit", {
      pm: {
        netns: ns.path,
        endpoints: [{ address: "10.9.1.1", flags: ["subflow"] }],
        limits: { subflows: 5, addAddrAccepted: 5 },
        sysctls: { addAddrTimeout: 11 },
      },
    });
    res.defer("remove stack file", () => Deno.remove(file));
    const run = await cli(["apply", "--auto-approve", "-s", file, "--state-root", root], {
      SOCKFORM_FAULT: "fail-after:1",
    });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /injected fault.*rolled back/);
    assert.deepEqual(await ipEndpoints(ns), before.eps);
    assert.deepEqual(await ipLimits(ns), before.limits);
    assert.equal(await ipSysctl(ns, "net.mptcp.add_addr_timeout"), timeout);
  });
  await destroyStack(stackOf("edit", spec(["signal"])), store);
});

Deno.test("PathManager: exclusive: false leaves others' endpoints and destroy removes only its own", async () => {
  await using res = new TestResources();
  const { ns, root } = await scratch(res);
  const store = kernelStore(root);
  const stack = stackOf("shared", {
    netns: ns.path,
    exclusive: false,
    endpoints: [{ address: "10.9.0.1", flags: ["subflow"] }],
  });
  await applyStack(stack, store);
  await ns.exec(["ip", "mptcp", "endpoint", "add", "10.9.1.1", "signal"]);
  assert.equal(hasChanges(await plan(stack, store)), false);
  await destroyStack(stack, store);
  assert.deepEqual(await ipEndpointsNoId(ns), [{ address: "10.9.1.1", flags: ["signal"] }]);
});

Deno.test("PathManager: fromInterfaces follows addresses added and removed", async () => {
  await using res = new TestResources();
  const { ns, root } = await scratch(res);
  const store = kernelStore(root);
  const stack = stackOf("auto", {
    netns: ns.path,
    fromInterfaces: { include: ["veth*"], families: ["ipv4"] },
  });
  await applyStack(stack, store);
  const addresses = async () => (await ipEndpoints(ns)).map((e) => `${e.address} ${e.dev}`);
  assert.deepEqual(await addresses(), ["10.9.0.1 veth0", "10.9.1.1 veth1"]);

  await ns.exec(["ip", "addr", "add", "10.9.0.5/24", "dev", "veth0"]);
  const grown = await plan(stack, store);
  assert.deepEqual(grown.steps[0].changes.map((c) => [c.path, c.after]), [
    ["fromInterfaces.veth0[10.9.0.5]", "10.9.0.5 subflow dev veth0"],
  ]);
  await applyStack(stack, store);
  assert.deepEqual(await addresses(), ["10.9.0.1 veth0", "10.9.0.5 veth0", "10.9.1.1 veth1"]);

  await ns.exec(["ip", "addr", "del", "10.9.1.1/24", "dev", "veth1"]);
  const shrunk = await plan(stack, store);
  const [gone] = shrunk.steps[0].changes;
  assert.equal(gone.after, undefined);
  assert.match(String(gone.before), /^10\.9\.1\.1 subflow dev veth1/);
  assert.match(gone.reason, /no longer declared/);
  await applyStack(stack, store);
  assert.deepEqual(await addresses(), ["10.9.0.1 veth0", "10.9.0.5 veth0"]);
  await destroyStack(stack, store);
  assert.deepEqual(await ipEndpoints(ns), []);
});

Deno.test("PathManager: mode and enabled are applied and given back", async () => {
  await using res = new TestResources();
  const { ns, root } = await scratch(res);
  const store = kernelStore(root);
  await ns.exec(["sysctl", "-qw", "net.mptcp.enabled=0"]);
  const endpoints = [{ address: "10.9.0.1", flags: ["subflow" as const] }];
  await planError(
    stackOf("m", { netns: ns.path, endpoints }),
    root,
    "endpoints",
    /MPTCP is disabled in .*net\.mptcp\.enabled = 0/,
  );
  const stack = stackOf("m", {
    netns: ns.path,
    mode: "userspace",
    endpoints,
    sysctls: { enabled: true },
  });
  await applyStack(stack, store);
  assert.equal(await ipSysctl(ns, "net.mptcp.enabled"), "1");
  assert.equal(await ipPathManagerMode(ns), "userspace");
  await destroyStack(stack, store);
  assert.equal(await ipSysctl(ns, "net.mptcp.enabled"), "0");
  assert.equal(await ipPathManagerMode(ns), "kernel");
});
