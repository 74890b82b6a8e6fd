/**
 * Updates with the bindings map full (65,536 entries, issue 12 bug 7): the
 * plan labels a move that cannot add before it removes "not hitless", and
 * apply succeeds wherever the final state fits.
 */
import assert from "node:assert/strict";
import { applyStack, kernelStore, plan } from "../../mod.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { withSlrLab } from "../helpers/slr_lab.ts";
import { slrStack, type SlrStackSpec } from "../helpers/slr_specs.ts";
import { REFUSED } from "../helpers/slr_loop.ts";

/** 65,535 entries to A (every port of 192.0.2.0/24) plus one binding to `to` on 198.51.100.0/24. */
const full = (port: number, to = "b"): SlrStackSpec => ({
  bindings: [
    { protocol: "tcp", prefix: "192.0.2.0/24", ports: [1, 65535], to: "a" },
    { protocol: "tcp", prefix: "198.51.100.0/24", ports: port, to },
  ],
  destinations: {
    a: { listener: "tcp://127.0.0.1:8080" },
    b: { listener: "tcp://127.0.0.1:8081" },
  },
});

Deno.test("a full bindings map: one-binding moves apply, labelled not hitless where the order changes", async (t) => {
  const fs = privateBpffs();
  try {
    await withSlrLab(async (lab) => {
      const store = kernelStore(fs.root);
      await lab.serve("tcp", "127.0.0.1", 8080, "A");
      await lab.serve("tcp", "127.0.0.1", 8081, "B");
      await applyStack(slrStack(lab, full(80)), store);
      assert.equal(await lab.ask("tcp", "198.51.100.10", 80), "B");
      await t.step(
        "move 198.51.100.0/24 from port 80 to 81: remove first, not hitless",
        async () => {
          const next = slrStack(lab, full(81));
          const [step] = (await plan(next, store)).steps;
          assert.deepEqual([step.action, step.hitless], ["update", false]);
          assert.match(
            step.changes.find((c) => !c.hitless)!.reason,
            /the map holds 65536 and 65536 \+ 1 added do not fit/,
          );
          await applyStack(next, store);
          assert.equal(await lab.ask("tcp", "198.51.100.10", 81), "B");
          assert.equal(await lab.ask("tcp", "198.51.100.10", 80), REFUSED);
          assert.equal(await lab.ask("tcp", "192.0.2.10", 443), "A");
        },
      );
      await t.step("re-point it at full: hitless, and it applies", async () => {
        const next = slrStack(lab, full(81, "a"));
        const [step] = (await plan(next, store)).steps;
        assert.deepEqual([step.action, step.hitless], ["update", true]);
        await applyStack(next, store);
        assert.equal(await lab.ask("tcp", "198.51.100.10", 81), "A");
        assert.equal((await plan(next, store)).steps[0].action, "no-op");
      });
    });
  } finally {
    fs.cleanup();
  }
});
