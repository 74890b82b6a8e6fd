import assert from "node:assert/strict";
import { Scheduler } from "./scheduler.ts";
import { PathManager } from "./path_manager.ts";
import { Stack } from "../engine/stack.ts";
import { SpecError } from "../engine/errors.ts";
import { diffScheduler, orderedSchedOps, schedActions } from "./scheduler/diff.ts";
import { restoreActions } from "./scheduler/restore.ts";
import type { SchedMemory, SchedResolved, SchedState } from "./scheduler/types.ts";

const NS = "/run/netns/client";
const RR = {
  source: { shipped: "roundRobin" as const },
  kernelName: "sf_round_robin",
  objectHash: "a".repeat(64),
};

function state(over: Partial<SchedState> = {}): SchedState {
  return {
    netns: NS,
    netnsIno: 7,
    scheduler: "default",
    links: [],
    endpoints: [{ id: 2, address: "10.1.3.1", flags: ["subflow"] }],
    agent: null,
    ...over,
  };
}

function resolved(over: Partial<SchedResolved> = {}): SchedResolved {
  return {
    netns: NS,
    netnsIno: 7,
    scheduler: "default",
    bpf: null,
    mode: { mode: "kernel", why: "net.mptcp.path_manager is kernel" },
    roles: [{ id: 2, address: "10.1.3.1", flags: ["subflow"], backup: true, path: "paths[1]" }],
    agent: null,
    specHash: "h",
    baseline: state(),
    ...over,
  };
}

function memory(over: Partial<SchedMemory> = {}): SchedMemory {
  return {
    netns: NS,
    netnsIno: 7,
    originalScheduler: "default",
    mode: "kernel",
    originalBackup: { "10.1.3.1|0": false },
    ...over,
  };
}

const observed = (s: SchedState, m: SchedMemory | null) => ({
  meta: m
    ? { kind: "Scheduler", name: "s", specHash: "h", objectHash: "", toolVersion: "t", extra: m }
    : null,
  state: s,
});

function specError(fn: () => unknown, path: string, message: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SpecError, String(e));
    const issue = e.issues.find((i) => i.path === path);
    assert.ok(issue, `no issue at ${path}: ${e.message}`);
    assert.match(issue.message, message);
    return true;
  });
}

Deno.test("Scheduler normalises its spec and refuses bad input with field paths", async (t) => {
  const s = new Scheduler("s", {
    netns: NS,
    paths: [{ match: { local: "FD00::1" }, role: "backup" }],
  });
  assert.equal(s.spec.scheduler, "default");
  assert.deepEqual(s.spec.paths, [{ match: { local: "fd00::1" }, role: "backup" }]);
  await t.step("duplicate path", () =>
    specError(
      () =>
        new Scheduler("s", {
          paths: [{ match: { dev: "a" }, role: "active" }, { match: { dev: "a" }, role: "backup" }],
        }),
      "paths[1].match",
      /duplicate: a is already paths\[0\]/,
    ));
  await t.step("promote names no path", () =>
    specError(
      () =>
        new Scheduler("s", {
          paths: [{ match: { dev: "a" }, role: "active" }],
          failover: { when: { rttMsAbove: 300 }, promote: "b" },
        }),
      "failover.promote",
      /b is not a declared path/,
    ));
  await t.step("failover without a condition", () =>
    specError(
      () =>
        new Scheduler("s", {
          paths: [{ match: { dev: "a" }, role: "backup" }],
          failover: { when: {}, promote: "a" },
        }),
      "failover.when",
      /at least one of rttMsAbove, lossAbove, sendRateBelow/,
    ));
  await t.step(
    "unknown scheduler",
    () => specError(() => new Scheduler("s", { scheduler: "fastest" as never }), "scheduler", /./),
  );
});

Deno.test("a stack holds one Scheduler per netns, and refuses a PathManager flag that contradicts a role", () => {
  const two = new Stack("x", [
    new Scheduler("a", { netns: NS }),
    new Scheduler("b", { netns: NS }),
  ]);
  assert.throws(() => two.validate(), /already has Scheduler "a".*one scheduler per netns/);
  const pm = new PathManager("pm", {
    netns: NS,
    endpoints: [{ address: "10.1.3.1", dev: "veth-b", flags: ["subflow"] }],
  });
  const s = new Scheduler("s", {
    netns: NS,
    paths: [{ match: { dev: "veth-b" }, role: "backup" }],
  });
  assert.throws(
    () => new Stack("x", [pm, s]).validate(),
    /paths\[0\]\.role.*PathManager "pm" endpoints\[0\]\.flags/,
  );
  const agreeing = new PathManager("pm", {
    netns: NS,
    endpoints: [{ address: "10.1.3.1", dev: "veth-b", flags: ["subflow", "backup"] }],
  });
  new Stack("x", [agreeing, s]).validate();
  const userspace = new PathManager("pm", {
    netns: NS,
    mode: "userspace",
    endpoints: pm.spec.endpoints,
  });
  new Stack("x", [userspace, s]).validate();
});

Deno.test("diff() of a new Scheduler states the mode and flips the endpoint flag", () => {
  const changes = diffScheduler(null, resolved());
  assert.deepEqual(changes.map((c) => c.path), ["mode", "paths[1].role"]);
  assert.match(changes[0].reason, /path_manager is kernel: roles are the backup flag/);
  assert.match(changes[1].reason, /SET_FLAGS.*MP_PRIO/);
  assert.ok(changes.every((c) => c.hitless));
  const ops = orderedSchedOps(schedActions(null, resolved()).kernel);
  assert.deepEqual(ops, [{
    op: "setBackup",
    id: 2,
    address: "10.1.3.1",
    flags: ["subflow"],
    to: true,
  }]);
});

Deno.test("diff() is empty when the kernel matches", () => {
  const s = state({ endpoints: [{ id: 2, address: "10.1.3.1", flags: ["subflow", "backup"] }] });
  assert.deepEqual(diffScheduler(observed(s, memory()), resolved()), []);
  const bpf = state({
    scheduler: "sf_round_robin",
    links: [{ kernelName: "sf_round_robin", mapId: 9 }],
    endpoints: s.endpoints,
  });
  const want = resolved({ scheduler: "sf_round_robin", bpf: RR });
  assert.deepEqual(diffScheduler(observed(bpf, memory({ bpf: RR })), want), []);
});

Deno.test("diff() of a BPF scheduler: register, then the sysctl for new connections", () => {
  const want = resolved({ scheduler: "sf_round_robin", bpf: RR, roles: [] });
  const { kernel } = schedActions(observed(state(), memory()), want);
  assert.deepEqual(kernel.map((a) => a.change.path), ["scheduler", "scheduler"]);
  assert.match(kernel[1].change.reason, /applies to NEW connections only/);
  assert.deepEqual(orderedSchedOps(kernel).map((o) => o.op), ["register", "sysctl"]);
});

Deno.test("diff() sees drift: a detached or gone link, the sysctl changed by hand, a dead agent", async (t) => {
  const want = resolved({ scheduler: "sf_round_robin", bpf: RR, roles: [] });
  const m = memory({ bpf: RR, originalBackup: {} });
  await t.step("link gone", () => {
    const [c] = diffScheduler(observed(state({ scheduler: "sf_round_robin" }), m), want);
    assert.match(c.reason, /link of sf_round_robin is gone: registered again/);
  });
  await t.step("link detached", () => {
    const s = state({
      scheduler: "sf_round_robin",
      links: [{ kernelName: "sf_round_robin", mapId: 0 }],
    });
    assert.match(diffScheduler(observed(s, m), want)[0].reason, /is detached/);
  });
  await t.step("sysctl", () => {
    const s = state({ links: [{ kernelName: "sf_round_robin", mapId: 3 }] });
    const [c] = diffScheduler(observed(s, m), want);
    assert.deepEqual([c.path, c.before, c.after], ["scheduler", "default", "sf_round_robin"]);
  });
  await t.step("agent dead", () => {
    const agent = {
      launch: { kind: "scheduler" as const, name: "x/s", params: { paths: [] } },
      hash: "p",
      version: "v",
      label: "roles",
      policyKey: "scheduler-roles",
    };
    const dead = { pid: 4, health: "dead" as const, reason: "gone", version: "v", paramsHash: "p" };
    const us = resolved({
      mode: { mode: "userspace", why: "net.mptcp.path_manager is userspace" },
      roles: [],
      agent,
    });
    const [c] = diffScheduler(
      observed(state({ agent: dead }), memory({ mode: "userspace", originalBackup: {} })),
      us,
    );
    assert.equal(c.path, "paths");
    assert.match(c.reason, /agent pid 4 is dead/);
  });
});

Deno.test("diff() labels a new program for a registered scheduler not hitless", () => {
  const next = { ...RR, objectHash: "b".repeat(64) };
  const s = state({
    scheduler: "sf_round_robin",
    links: [{ kernelName: "sf_round_robin", mapId: 3 }],
  });
  const { kernel } = schedActions(
    observed(s, memory({ bpf: RR, originalBackup: {} })),
    resolved({ scheduler: "sf_round_robin", bpf: next, roles: [] }),
  );
  assert.equal(kernel.length, 1);
  assert.equal(kernel[0].change.hitless, false);
  assert.match(kernel[0].change.reason, /EOPNOTSUPP/);
  assert.deepEqual(kernel[0].ops, [{ op: "replace", bpf: next, from: RR }]);
});

Deno.test("diff() switching scheduler registers the new one first and unregisters the old one last", () => {
  const RED = {
    source: { shipped: "redundant" as const },
    kernelName: "sf_redundant",
    objectHash: "c".repeat(64),
  };
  const s = state({
    scheduler: "sf_round_robin",
    links: [{ kernelName: "sf_round_robin", mapId: 3 }],
  });
  const { kernel } = schedActions(
    observed(s, memory({ bpf: RR, originalBackup: {} })),
    resolved({ scheduler: "sf_redundant", bpf: RED, roles: [] }),
  );
  assert.deepEqual(orderedSchedOps(kernel).map((o) => o.op), ["register", "sysctl", "unregister"]);
  assert.ok(kernel.some((a) => !a.change.hitless));
});

Deno.test("restoreActions() gives back the sysctl, every link and every changed flag", () => {
  const s = state({
    scheduler: "sf_round_robin",
    links: [{ kernelName: "sf_round_robin", mapId: 3 }],
    endpoints: [{ id: 2, address: "10.1.3.1", flags: ["subflow", "backup"] }],
  });
  const ops = orderedSchedOps(
    restoreActions(s, memory({ bpf: RR }), ["default", "sf_round_robin"]),
  );
  assert.deepEqual(ops, [
    { op: "sysctl", from: "sf_round_robin", to: "default" },
    { op: "unregister", kernelName: "sf_round_robin" },
    { op: "setBackup", id: 2, address: "10.1.3.1", flags: ["subflow", "backup"], to: false },
  ]);
});

Deno.test("diff() gives back the flag of an endpoint no longer on a declared path", () => {
  const s = state({ endpoints: [{ id: 2, address: "10.1.3.1", flags: ["subflow", "backup"] }] });
  const [c] = diffScheduler(observed(s, memory()), resolved({ roles: [] }));
  assert.equal(c.path, "paths");
  assert.match(c.reason, /no longer on a declared path/);
});
