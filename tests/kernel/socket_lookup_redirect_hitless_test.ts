/**
 * Every SocketLookupRedirect update the plan calls hitless, with real traffic
 * running through it (tests/helpers/traffic.ts): binding edits, destination
 * add, remove and rename, a program swap, and the issue-12 repro of
 * alternating stacks whose destination labels differ. One failed or
 * misrouted connection in a hitless step fails the test.
 */
import assert from "node:assert/strict";
import { applyStack, kernelStore } from "../../mod.ts";
import type { StateStore } from "../../engine/store.ts";
import { readMeta, writeMeta } from "../../providers/state/meta.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { createSlrLab, type SlrLab } from "../helpers/slr_lab.ts";
import { assertNoHits, duringTraffic, type TrafficTarget } from "../helpers/traffic.ts";
import { slrStack, type SlrStackSpec } from "../helpers/slr_specs.ts";

interface Env {
  lab: SlrLab;
  store: StateStore;
  dir: string;
}

/** A lab with listeners A (8080), B (8081), AA (8082), and a store on a private bpffs. */
async function withEnv(fn: (env: Env) => Promise<void>): Promise<void> {
  const fs = privateBpffs();
  const lab = await createSlrLab("hit");
  try {
    await lab.serve("tcp", "127.0.0.1", 8080, "A");
    await lab.serve("tcp", "127.0.0.1", 8081, "B");
    await lab.serve("tcp", "127.0.0.1", 8082, "AA");
    await fn({ lab, store: kernelStore(fs.root), dir: `${fs.root}/hit/web` });
  } finally {
    await lab.cleanup();
    fs.cleanup();
  }
}

/**
 * Applies `spec` while traffic runs to `targets`; the plan must call the one
 * step an update, hitless, and no connection may fail or be misrouted.
 */
async function hitlessApply(env: Env, spec: SlrStackSpec, targets: TrafficTarget[], what: string) {
  let planned = "";
  const { counts } = await duringTraffic(
    env.lab.name,
    targets,
    () =>
      applyStack(slrStack(env.lab, spec), env.store, {
        confirm: (p) => {
          const step = p.steps[0];
          planned = `${step.action} hitless=${step.hitless}`;
          return true;
        },
      }),
  );
  assert.equal(planned, "update hitless=true", `${what}: the plan`);
  assertNoHits(counts, what);
}

const tcp = (prefix: string, ports: number, to: string) => ({
  protocol: "tcp" as const,
  prefix,
  ports,
  to,
});
const A = { listener: "tcp://127.0.0.1:8080" };
const B = { listener: "tcp://127.0.0.1:8081" };
const AA = { listener: "tcp://127.0.0.1:8082" };

/** /32 bindings to `to` on port 80 outside the lab's prefixes: they widen an apply's window. */
function padding(count: number, to: string) {
  return Array.from(
    { length: count },
    (_, i) => tcp(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`, 80, to),
  );
}

Deno.test("issue 12 repro: alternating stacks that add and remove a destination never misroute", async () => {
  await withEnv(async (env) => {
    const pad = padding(3000, "B");
    const stackA: SlrStackSpec = {
      bindings: [tcp("192.0.2.0/24", 80, "A"), tcp("198.51.100.0/24", 80, "B"), ...pad],
      destinations: { A, B },
    };
    const stackB: SlrStackSpec = {
      bindings: [...stackA.bindings, tcp("192.0.2.0/24", 81, "AA")],
      destinations: { A, B, AA },
    };
    await applyStack(slrStack(env.lab, stackA), env.store);
    const targets: TrafficTarget[] = [
      { host: "198.51.100.10", port: 80, accept: ["B"] },
      { host: "192.0.2.10", port: 81, accept: ["AA"], mayFail: true },
      { host: "192.0.2.10", port: 80, accept: ["A"] },
    ];
    for (let round = 0; round < 5; round++) {
      await hitlessApply(env, stackB, targets, `round ${round}: add AA`);
      await hitlessApply(env, stackA, targets, `round ${round}: remove AA`);
    }
  });
});

Deno.test("hitless SocketLookupRedirect updates carry traffic without a failure or misroute", async (t) => {
  await withEnv(async (env) => {
    const base: SlrStackSpec = {
      bindings: [tcp("192.0.2.0/24", 80, "a"), tcp("198.51.100.0/24", 80, "b")],
      destinations: { a: A, b: B },
    };
    await applyStack(slrStack(env.lab, base), env.store);
    const steady: TrafficTarget[] = [
      { host: "192.0.2.10", port: 80, accept: ["A"] },
      { host: "198.51.100.10", port: 80, accept: ["B"] },
    ];
    await t.step("binding edit: re-point one binding, add one", async () => {
      const next = {
        ...base,
        bindings: [...base.bindings, tcp("192.0.2.0/24", 81, "b")],
      };
      await hitlessApply(env, next, steady, "add a binding");
      const moved = { ...base, bindings: [tcp("192.0.2.0/24", 80, "b"), base.bindings[1]] };
      await hitlessApply(env, moved, [
        { host: "192.0.2.10", port: 80, accept: ["A", "B"] },
        steady[1],
      ], "re-point a binding");
      await hitlessApply(env, base, [
        { host: "192.0.2.10", port: 80, accept: ["A", "B"] },
        steady[1],
      ], "re-point it back, remove one");
    });
    await t.step("destination add, rename and remove", async () => {
      const added = {
        bindings: [...base.bindings, tcp("192.0.2.0/24", 81, "aa")],
        destinations: { ...base.destinations, aa: AA },
      };
      const targets = [...steady, { host: "192.0.2.10", port: 81, accept: ["AA"], mayFail: true }];
      await hitlessApply(env, added, targets, "add a destination");
      const renamed = {
        bindings: [
          tcp("192.0.2.0/24", 80, "a"),
          tcp("198.51.100.0/24", 80, "0b"),
          added
            .bindings[2],
        ],
        destinations: { a: A, "0b": B, aa: AA },
      };
      await hitlessApply(env, renamed, targets, "rename a destination");
      await hitlessApply(env, base, targets, "remove a destination");
    });
    await t.step("a destination moved to another listener, and back", async () => {
      const either = [{ host: "192.0.2.10", port: 80, accept: ["A", "AA"] }, steady[1]];
      await hitlessApply(env, { ...base, destinations: { a: AA, b: B } }, either, "a → AA");
      await hitlessApply(env, base, either, "a → A again");
    });
    await t.step("program swap (a new object hash)", async () => {
      writeMeta(env.dir, { ...readMeta(env.dir)!, objectHash: "0".repeat(64) });
      await hitlessApply(env, base, steady, "program swap");
    });
  });
});
