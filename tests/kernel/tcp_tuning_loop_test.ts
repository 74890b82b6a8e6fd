/**
 * TcpTuning's plan/apply loop on the real kernel: plan-time errors, no-op
 * re-plans, drift (detached link, edited rule entry) repaired by apply,
 * hitless rule edits, atomic program swap, cgroup move, destroy, and
 * rollback of a failed create, update and delete.
 */
import assert from "node:assert/strict";
import {
  applyStack,
  destroyStack,
  plan,
  PlanError,
  SpecError,
  type Stack,
  StepError,
  TcpTuning,
} from "../../mod.ts";
import * as gen from "../../bpf/gen/sock_ops.ts";
import { listPrograms } from "../../providers/libbpf/info.ts";
import { BpfLink } from "../../providers/libbpf/link.ts";
import { BpfMap } from "../../providers/libbpf/map.ts";
import { readMeta, writeMeta } from "../../providers/state/meta.ts";
import { readState, RULESET_KEY } from "../../providers/tcp_tuning/kernel.ts";
import { HEADER_SIZE } from "../../providers/tcp_tuning/codec.ts";
import { run } from "../../lab/command.ts";
import { privateCgroup, TT, type TtLab, withTtLab } from "../helpers/tcp_tuning_lab.ts";
import {
  congestionPair,
  connectFrom,
  counters,
  linksOn,
  linksOnPath,
  PORT,
  stackFor,
} from "../helpers/tcp_tuning_checks.ts";

async function planError(stack: Stack, lab: TtLab): Promise<string> {
  try {
    await plan(stack, lab.store);
  } catch (e) {
    assert.ok(e instanceof PlanError, String(e));
    return e.message;
  }
  throw new Error("expected a PlanError");
}

Deno.test("bad input is refused with one clear line naming the field", async (t) => {
  await withTtLab(async (lab) => {
    await t.step("an unknown congestion algorithm", async () => {
      const available = Deno.readTextFileSync(
        "/proc/sys/net/ipv4/tcp_available_congestion_control",
      ).trim();
      const msg = await planError(stackFor(lab, [{ set: { congestion: "nosuchcc" } }]), lab);
      assert.ok(msg.startsWith("tune.rules[0].set.congestion: "), msg);
      assert.ok(
        msg.includes(
          "congestion nosuchcc is neither available in the kernel nor declared by a CongestionControl in this stack",
        ),
        msg,
      );
      assert.ok(msg.includes(available), msg);
    });
    await t.step("negative and absurd values", () => {
      for (
        const set of [{ synRtoMs: -1 }, { synRtoMs: 3_600_000 }, { initCwnd: 0 }, { mark: -2 }]
      ) {
        assert.throws(
          () => new TcpTuning("tune", { cgroup: lab.cgroup, rules: [{ set }] }),
          (e: Error) => e instanceof SpecError && e.message.startsWith("tune.rules[0].set."),
        );
      }
    });
    await t.step("a timer below 2 jiffies", async () => {
      const msg = await planError(stackFor(lab, [{ set: { rtoMinMs: 1 } }]), lab);
      assert.match(msg, /^tune\.rules\[0\]\.set\.rtoMinMs: 1 ms is under .* 2 jiffies/);
    });
    await t.step("a missing cgroup", async () => {
      const missing = `${lab.cgroup}/nope`;
      const msg = await planError(stackFor(lab, [], missing), lab);
      assert.equal(msg, `tune.cgroup: ${missing} does not exist (create it: mkdir ${missing})`);
    });
    await t.step("a cgroup v1 path", async () => {
      // A private named v1 hierarchy (no controllers), so the step runs on any host.
      const v1 = Deno.makeTempDirSync({ prefix: "sf-cgv1-" });
      await run(["mount", "-t", "cgroup", "-o", `none,name=${v1.slice(-12)}`, "cgroup", v1]);
      try {
        const msg = await planError(stackFor(lab, [], v1), lab);
        assert.match(
          msg,
          /^tune\.cgroup: .* is in a cgroup v1 hierarchy; sock_ops attaches only to cgroup v2/,
        );
      } finally {
        await run(["umount", v1]);
        Deno.removeSync(v1);
      }
    });
    await t.step("a file that is not a cgroup", async () => {
      const msg = await planError(stackFor(lab, [], "/proc"), lab);
      assert.match(msg, /^tune\.cgroup: \/proc is not a cgroup v2 directory/);
    });
  });
});

Deno.test("the loop: no-op re-plan, drift repaired, hitless edits, program swap, cgroup move, destroy", async (t) => {
  await withTtLab(async (lab) => {
    const { base, other } = await congestionPair(lab);
    await lab.serve(PORT);
    const rule = { match: { remote: "10.88.0.0/16" }, set: { congestion: other, synRtoMs: 200 } };
    let stack = stackFor(lab, [rule]);
    await applyStack(stack, lab.store);
    const dir = `${lab.root}/kt/tune`;
    const onlyStep = async () => (await plan(stack, lab.store)).steps[0];
    const tunedNow = async (host: string = TT.matching, cgroup = lab.cgroup) =>
      (await connectFrom(lab, cgroup, host)).congestion === other;

    await t.step("a second plan changes nothing", async () => {
      assert.equal((await onlyStep()).action, "no-op");
    });
    await t.step("a detached link is drift; apply attaches a new one", async () => {
      const link = BpfLink.openPinned(`${dir}/link`)!;
      try {
        link.detach();
      } finally {
        link.close();
      }
      assert.equal(linksOn(lab), 0);
      assert.equal(await tunedNow(), false, "nothing tunes while detached");
      const step = await onlyStep();
      assert.equal(step.action, "update");
      assert.deepEqual(step.drift.map((c) => c.path), ["link"]);
      await applyStack(stack, lab.store);
      assert.equal(linksOn(lab), 1);
      assert.equal(await tunedNow(), true);
      assert.equal((await onlyStep()).action, "no-op");
    });
    await t.step("an edited rule entry is drift; apply writes the rules back", async () => {
      const map = BpfMap.openPinned(`${dir}/ruleset`)!;
      try {
        const value = map.lookup(RULESET_KEY)!;
        new DataView(value.buffer).setUint32(HEADER_SIZE + 128, 999, true); // rules[0].syn_rto_ms
        map.update(RULESET_KEY, value);
      } finally {
        map.close();
      }
      const step = await onlyStep();
      assert.deepEqual(step.drift.map((c) => c.path), ["rules[0]"]);
      assert.match(step.drift[0].reason, /set\.synRtoMs/);
      await applyStack(stack, lab.store);
      assert.equal(readState(dir).ruleset?.rules[0].set.synRtoMs, 200);
      assert.equal((await onlyStep()).action, "no-op");
    });
    await t.step("a rule edit is one hitless map update: same link, same program", async () => {
      const before = readState(dir);
      assert.equal(await tunedNow(TT.matching), true);
      assert.equal((await counters(lab, stack))[0].matched, 1, "the old rule has counted");
      stack = stackFor(lab, [{ ...rule, match: { remote: "10.99.0.0/16" } }]);
      const step = await onlyStep();
      assert.deepEqual([step.action, step.hitless, step.changes.map((c) => c.path)], [
        "update",
        true,
        ["rules[0]"],
      ]);
      await applyStack(stack, lab.store);
      const after = readState(dir);
      assert.deepEqual([after.link?.id, after.program?.id], [before.link?.id, before.program?.id]);
      assert.equal((await counters(lab, stack))[0].matched, 0, "a changed rule counts afresh");
      assert.equal(await tunedNow(TT.other), true);
      assert.equal(await tunedNow(TT.matching), false);
      assert.equal((await counters(lab, stack))[0].matched, 1);
    });
    await t.step("a new program build is swapped atomically on the same link", async () => {
      const before = readState(dir);
      writeMeta(dir, { ...readMeta(dir)!, objectHash: "0".repeat(64) }); // as if built by an older release
      const step = await onlyStep();
      assert.deepEqual([step.action, step.hitless, step.changes.map((c) => c.path)], [
        "update",
        true,
        ["program"],
      ]);
      await applyStack(stack, lab.store);
      const after = readState(dir);
      assert.equal(after.link?.id, before.link?.id, "the same link");
      assert.notEqual(after.program?.id, before.program?.id, "a new program");
      assert.equal(after.link?.progId, after.program?.id, "now running the pinned program");
      assert.equal(await tunedNow(TT.other), true);
    });
    const second = privateCgroup();
    try {
      await t.step("a new cgroup is attached before the old one is detached", async () => {
        stack = stackFor(lab, [{ ...rule, match: { remote: "10.99.0.0/16" } }], second.path);
        const step = await onlyStep();
        assert.deepEqual([step.action, step.hitless, step.changes.map((c) => c.path)], [
          "update",
          true,
          ["cgroup"],
        ]);
        await applyStack(stack, lab.store);
        assert.deepEqual([linksOnPath(second.path), linksOn(lab)], [1, 0]);
        assert.equal(await tunedNow(TT.other, second.path), true);
        assert.equal(await tunedNow(TT.other, lab.cgroup), false);
        assert.equal((await onlyStep()).action, "no-op");
      });
      await t.step("destroy leaves no link, program, pin or directory", async () => {
        const progId = readState(dir).program!.id;
        await destroyStack(stack, lab.store);
        assert.equal(linksOnPath(second.path), 0);
        assert.deepEqual([...Deno.readDirSync(lab.root)], []);
        let alive = true;
        for (let i = 0; i < 50 && alive; i++) {
          alive = listPrograms().some((p) => p.id === progId); // freed after an RCU grace period
          if (alive) await new Promise((r) => setTimeout(r, 20));
        }
        assert.equal(alive, false, `program ${progId} is still loaded`);
        assert.equal((await connectFrom(lab, second.path, TT.other)).congestion, base);
      });
    } finally {
      await destroyStack(stack, lab.store);
      await second.remove();
    }
  });
});

/** Runs `fn` with apply set to fail right after its first step (engine/fault.ts). */
async function failingAfterFirstStep(fn: () => Promise<unknown>): Promise<string> {
  Deno.env.set("SOCKFORM_FAULT", "fail-after:1");
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof StepError, String(e));
    return e.message;
  } finally {
    Deno.env.delete("SOCKFORM_FAULT");
  }
  throw new Error("expected a StepError");
}

Deno.test("a failed apply rolls create, update and delete back", async (t) => {
  await withTtLab(async (lab) => {
    const { other } = await congestionPair(lab);
    await lab.serve(PORT);
    const rule = { match: { remote: "10.88.0.0/16" }, set: { congestion: other } };
    const stack = stackFor(lab, [rule]);
    const dir = `${lab.root}/kt/tune`;
    await t.step("create", async () => {
      assert.match(await failingAfterFirstStep(() => applyStack(stack, lab.store)), /rolled back/);
      assert.equal(linksOn(lab), 0);
      // A rolled-back create leaves no stack directory at all (removed under the lock).
      assert.throws(() => Deno.statSync(`${lab.root}/kt`), Deno.errors.NotFound);
    });
    await applyStack(stack, lab.store);
    const deployed = readState(dir);
    const second = privateCgroup();
    try {
      await t.step("update (rules, program build and cgroup at once)", async () => {
        await lab.connect(TT.matching, PORT, true);
        const counted = await counters(lab, stack);
        assert.equal(counted[0].matched, 1);
        writeMeta(dir, { ...readMeta(dir)!, objectHash: "0".repeat(64) });
        const moved = stackFor(lab, [{ ...rule, match: { remote: "10.99.0.0/16" } }], second.path);
        await failingAfterFirstStep(() => applyStack(moved, lab.store));
        assert.deepEqual(readState(dir), deployed);
        assert.deepEqual(await counters(lab, stack), counted, "counters restored too");
        assert.deepEqual([linksOn(lab), linksOnPath(second.path)], [1, 0]);
        assert.equal((await lab.connect(TT.matching, PORT, true))[0].congestion, other);
        writeMeta(dir, { ...readMeta(dir)!, objectHash: gen.objectHash });
      });
      await t.step("delete", async () => {
        await failingAfterFirstStep(() => destroyStack(stack, lab.store));
        assert.deepEqual(readState(dir), deployed);
        assert.equal((await plan(stack, lab.store)).steps[0].action, "no-op");
        assert.equal((await lab.connect(TT.matching, PORT, true))[0].congestion, other);
      });
    } finally {
      await destroyStack(stack, lab.store);
      await second.remove();
    }
    assert.equal(linksOn(lab), 0);
  });
});
