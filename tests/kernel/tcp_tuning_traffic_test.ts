/**
 * Traffic during every TcpTuning change the plan calls hitless: a steady
 * client (250 connections/s, bounded) inside the tuned cgroup, in the lab's
 * client netns, connects to a server in the other netns while rule edits, a
 * rule added and removed, a program swap and a cgroup move are applied. No connection may fail, none made during the
 * change may escape tuning (the netns default congestion control), and those
 * made after the apply carry the new rule, as getsockopt(TCP_CONGESTION)
 * reads it from the kernel.
 */
import assert from "node:assert/strict";
import { applyStack, type Stack } from "../../mod.ts";
import type { Step } from "../../engine/plan.ts";
import { readMeta, writeMeta } from "../../providers/state/meta.ts";
import { readState } from "../../providers/tcp_tuning/kernel.ts";
import { privateCgroup, probeArgv, TT, type TtLab, withTtLab } from "../helpers/tcp_tuning_lab.ts";
import type { TcpTuningSpec } from "../../resources/tcp_tuning.ts";
import { congestionPair, counters, PORT, stackFor } from "../helpers/tcp_tuning_checks.ts";
import {
  assertSteady,
  replyServer,
  type SteadyCounts,
  type SteadyTarget,
  steadyTraffic,
} from "../helpers/steady_client.ts";

/** The netns default and two different algorithms to set, the first one not the default. */
async function threeCongestions(lab: TtLab): Promise<[string, string, string]> {
  const { base, other } = await congestionPair(lab);
  const available = Deno.readTextFileSync("/proc/sys/net/ipv4/tcp_available_congestion_control")
    .trim().split(/\s+/);
  const second = available.find((cc) => cc !== other && cc !== base) ?? base;
  return [base, other, second];
}

/** Asserts every connection of a phase used one of `ccs`. */
function allUsed(counts: SteadyCounts, phase: keyof SteadyCounts, ...ccs: string[]): void {
  const seen = counts[phase] as SteadyCounts["during"];
  const other = Object.keys(seen.congestion).filter((cc) => !ccs.includes(cc));
  assert.deepEqual(other, [], `${phase} the change: ${JSON.stringify(seen.congestion)}`);
  assert.ok(seen.total > 0, `connections ${phase} the change`);
}

/** Rule edits applied back to back under traffic (odd: the last one sets rule B). */
const EDITS = 21;

function hitlessUpdate(step: Step, paths: string[]): void {
  assert.deepEqual([step.action, step.hitless, step.changes.map((c) => c.path)], [
    "update",
    true,
    paths,
  ]);
}

interface Rig {
  lab: TtLab;
  /** The netns default, and the two algorithms the rules set. */
  base: string;
  a: string;
  b: string;
  client: (argv: string[]) => string[];
  targets: SteadyTarget[];
  /** The stack whose one rule sets `b` (even i) or `a` (odd i). */
  stackOf: (i: number) => Stack;
}

async function ruleEdits(rig: Rig): Promise<void> {
  const { lab, a, b } = rig;
  const { result, counts } = await steadyTraffic(rig.client, rig.targets, async () => {
    const steps: Step[] = [];
    for (let i = 0; i < EDITS; i++) {
      steps.push((await applyStack(rig.stackOf(i), lab.store)).plan.steps[0]);
    }
    return steps;
  }, { rate: 400 });
  for (const step of result) hitlessUpdate(step, ["rules[0]"]);
  assertSteady(counts, "rule edits");
  allUsed(counts, "before", a);
  allUsed(counts, "during", a, b); // never untuned while the rules change
  allUsed(counts, "after", b);
  const [rule] = await counters(lab, rig.stackOf(EDITS - 1));
  assert.ok(rule.matched >= counts.after.total, `the new rule counted: ${rule.matched}`);
}

async function ruleAddRemove(rig: Rig): Promise<void> {
  const { lab, a, b } = rig;
  const first = { match: { remote: `${TT.matching}/32` }, set: { congestion: a } };
  const last = rig.stackOf(EDITS - 1);
  const withFirst = stackFor(lab, [first, ...(last.resources[0].spec as TcpTuningSpec).rules]);
  for (const [stack, from, to] of [[withFirst, b, a], [last, a, b]] as const) {
    const { result, counts } = await steadyTraffic(
      rig.client,
      rig.targets,
      () => applyStack(stack, lab.store),
    );
    const step = result.plan.steps[0];
    assert.deepEqual([step.action, step.hitless], ["update", true]);
    assertSteady(counts, `rules ${from} → ${to}`);
    allUsed(counts, "before", from);
    allUsed(counts, "during", from, to);
    allUsed(counts, "after", to);
  }
}

async function programSwap(rig: Rig): Promise<void> {
  const dir = `${rig.lab.root}/kt/tune`;
  const before = readState(dir);
  writeMeta(dir, { ...readMeta(dir)!, objectHash: "0".repeat(64) }); // an older build
  const { result, counts } = await steadyTraffic(
    rig.client,
    rig.targets,
    () => applyStack(rig.stackOf(EDITS - 1), rig.lab.store),
  );
  hitlessUpdate(result.plan.steps[0], ["program"]);
  assertSteady(counts, "program swap");
  const after = readState(dir);
  assert.equal(after.link?.id, before.link?.id, "the same link");
  assert.notEqual(after.program?.id, before.program?.id, "a new program");
  assert.equal(after.link?.progId, after.program?.id, "the link runs the new program");
  for (const phase of ["before", "during", "after"] as const) allUsed(counts, phase, rig.b);
}

/** The client moves with the stack: untuned in the new cgroup before, tuned after. */
async function cgroupMove(rig: Rig): Promise<void> {
  const second = privateCgroup();
  try {
    const rules = (rig.stackOf(EDITS - 1).resources[0].spec as TcpTuningSpec).rules;
    const client = (argv: string[]) => probeArgv(rig.lab.client.name, second.path, argv);
    const { result, counts } = await steadyTraffic(
      client,
      rig.targets,
      () => applyStack(stackFor(rig.lab, rules, second.path), rig.lab.store),
    );
    hitlessUpdate(result.plan.steps[0], ["cgroup"]);
    assertSteady(counts, "cgroup move");
    allUsed(counts, "before", rig.base);
    allUsed(counts, "during", rig.base, rig.b);
    allUsed(counts, "after", rig.b);
  } finally {
    await second.remove();
  }
}

Deno.test("TcpTuning's hitless updates drop no connection under steady traffic, and then hold", async (t) => {
  await withTtLab(async (lab) => {
    const [base, a, b] = await threeCongestions(lab);
    const srv = await replyServer(
      (argv) => probeArgv(lab.server.name, null, argv),
      "::",
      PORT,
      "srv",
    );
    try {
      const remote = "10.88.0.0/16";
      const ruleA = { match: { remote }, set: { congestion: a } };
      const ruleB = { match: { remote }, set: { congestion: b, synRtoMs: 300 } };
      await applyStack(stackFor(lab, [ruleA]), lab.store);
      const rig: Rig = {
        lab,
        base,
        a,
        b,
        client: (argv) => probeArgv(lab.client.name, lab.cgroup, argv),
        targets: [{ host: TT.matching, port: PORT, accept: ["srv"] }],
        stackOf: (i) => stackFor(lab, [i % 2 === 0 ? ruleB : ruleA]),
      };
      await t.step(`${EDITS} alternating rule edits, each one map update`, () => ruleEdits(rig));
      await t.step("a rule added in front, then removed", () => ruleAddRemove(rig));
      await t.step("a program swap on the same link", () => programSwap(rig));
      await t.step("a cgroup move, attached before the old link goes", () => cgroupMove(rig));
    } finally {
      await srv.stop();
    }
  });
});
