/**
 * Traffic during every TcpTuning change the plan calls hitless: a steady
 * client (250 connections/s, bounded) inside the tuned cgroup, in the lab's
 * client netns, connects to a server in the other netns while rule edits and
 * a program swap are applied. No connection may fail, none made during the
 * change may escape tuning (the netns default congestion control), and those
 * made after the apply carry the new rule, as getsockopt(TCP_CONGESTION)
 * reads it from the kernel.
 */
import assert from "node:assert/strict";
import { applyStack, type Stack } from "../../mod.ts";
import type { Step } from "../../engine/plan.ts";
import { readMeta, writeMeta } from "../../providers/meta.ts";
import { readState } from "../../providers/tcp_tuning/kernel.ts";
import { probeArgv, TT, type TtLab, withTtLab } from "../helpers/tcp_tuning_lab.ts";
import { congestionPair, counters, PORT, stackFor } from "../helpers/tcp_tuning_checks.ts";
import {
  assertSteady,
  replyServer,
  type SteadyCounts,
  steadyTraffic,
} from "../helpers/steady_client.ts";

/** Two different congestion controls to set, the first one not the netns default. */
async function twoCongestions(lab: TtLab): Promise<[string, string]> {
  const { base, other } = await congestionPair(lab);
  const available = Deno.readTextFileSync("/proc/sys/net/ipv4/tcp_available_congestion_control")
    .trim().split(/\s+/);
  const second = available.find((cc) => cc !== other && cc !== base) ?? base;
  return [other, second];
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

Deno.test("TcpTuning rule edits and a program swap drop no connection under steady traffic", async (t) => {
  await withTtLab(async (lab) => {
    const [a, b] = await twoCongestions(lab);
    const server = (argv: string[]) => probeArgv(lab.server.name, null, argv);
    const srv = await replyServer(server, "::", PORT, "srv");
    try {
      const remote = "10.88.0.0/16";
      const ruleA = { match: { remote }, set: { congestion: a } };
      const ruleB = { match: { remote }, set: { congestion: b, synRtoMs: 300 } };
      const stackOf = (i: number): Stack => stackFor(lab, [i % 2 === 0 ? ruleB : ruleA]);
      await applyStack(stackFor(lab, [ruleA]), lab.store);
      const client = (argv: string[]) => probeArgv(lab.client.name, lab.cgroup, argv);
      const targets = [{ host: TT.matching, port: PORT, accept: ["srv"] }];

      await t.step("21 alternating rule edits, each one hitless map update", async () => {
        const { result, counts } = await steadyTraffic(client, targets, async () => {
          const steps: Step[] = [];
          for (let i = 0; i < EDITS; i++) {
            steps.push((await applyStack(stackOf(i), lab.store)).plan.steps[0]);
          }
          return steps;
        }, { rate: 400 });
        for (const step of result) hitlessUpdate(step, ["rules[0]"]);
        assertSteady(counts, "rule edits");
        allUsed(counts, "before", a);
        allUsed(counts, "during", a, b); // never untuned while the rules change
        allUsed(counts, "after", b);
        const [rule] = await counters(lab, stackOf(EDITS - 1));
        assert.ok(rule.matched >= counts.after.total, `the new rule counted: ${rule.matched}`);
      });

      await t.step("a program swap on the same link", async () => {
        const dir = `${lab.root}/kt/tune`;
        const before = readState(dir);
        writeMeta(dir, { ...readMeta(dir)!, objectHash: "0".repeat(64) }); // an older build
        const { result, counts } = await steadyTraffic(
          client,
          targets,
          () => applyStack(stackOf(EDITS - 1), lab.store),
        );
        hitlessUpdate(result.plan.steps[0], ["program"]);
        assertSteady(counts, "program swap");
        const after = readState(dir);
        assert.equal(after.link?.id, before.link?.id, "the same link");
        assert.notEqual(after.program?.id, before.program?.id, "a new program");
        assert.equal(after.link?.progId, after.program?.id, "the link runs the new program");
        allUsed(counts, "before", b);
        allUsed(counts, "during", b); // never untuned while the program changes
        allUsed(counts, "after", b);
      });
    } finally {
      await srv.stop();
    }
  });
});
