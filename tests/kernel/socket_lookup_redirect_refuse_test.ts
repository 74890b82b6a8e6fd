/**
 * A binding whose destination has no socket is refused, not handed to
 * whatever else listens on the port (issue 12, bug 10): a squatter on
 * 0.0.0.0:80 gets nothing when the destination's listener dies, unless the
 * destination opted in with `fallthrough: true`. `show` counts the refusals.
 */
import assert from "node:assert/strict";
import { applyStack, kernelStore, showStack } from "../../mod.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { withSlrLab } from "../helpers/slr_lab.ts";
import { slrStack, type SlrStackSpec } from "../helpers/slr_specs.ts";
import { REFUSED } from "../helpers/slr_loop.ts";

const spec = (fallthrough?: boolean): SlrStackSpec => ({
  bindings: [{ protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "d" }],
  destinations: {
    d: { listener: "tcp://127.0.0.1:8080", ...(fallthrough ? { fallthrough } : {}) },
  },
});

Deno.test("a destination without a socket refuses its connections; a squatter on 0.0.0.0 gets none", async (t) => {
  const fs = privateBpffs();
  try {
    await withSlrLab(async (lab) => {
      const store = kernelStore(fs.root);
      await lab.serve("tcp", "0.0.0.0", 80, "SQUAT");
      let d = await lab.serve("tcp", "127.0.0.1", 8080, "D");
      await t.step("by default: refused, and counted in show", async () => {
        await applyStack(slrStack(lab, spec()), store);
        assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "D");
        await d.stop();
        for (let i = 0; i < 3; i++) {
          assert.equal(await lab.ask("tcp", "192.0.2.10", 80), REFUSED, "the squatter got nothing");
        }
        assert.equal(await lab.ask("tcp", "198.51.100.10", 80), "SQUAT", "unbound: normal lookup");
        const [shown] = await showStack(slrStack(lab, spec()), store);
        const details = shown.details as { refused: number; counters: Record<string, unknown> };
        assert.equal(details.refused, 3);
        assert.deepEqual(details.counters.d, {
          lookups: 4,
          redirected: 1,
          noSocket: 3,
          refused: 3,
        });
      });
      await t.step("with fallthrough: true, the kernel's normal lookup takes it", async () => {
        d = await lab.serve("tcp", "127.0.0.1", 8080, "D");
        await applyStack(slrStack(lab, spec(true)), store);
        assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "D");
        await d.stop();
        assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "SQUAT");
        const [shown] = await showStack(slrStack(lab, spec(true)), store);
        assert.equal(
          (shown.details as { refused: number }).refused,
          0,
          "fall-throughs are no refusals",
        );
      });
    });
  } finally {
    fs.cleanup();
  }
});
