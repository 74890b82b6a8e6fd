// @vm-kernels 7.3
/**
 * CongestionControl under kill -9 at every kernel change of a CLI apply of a new build (link update), inside
 * the VM: the next run (in-process: a CLI start costs tens of seconds under
 * TCG) converges, with sf_reno registered exactly when the stack is deployed
 * and the metadata naming the build that is registered
 * (congestion_control_kill_support.ts).
 *
 * @module
 */
import assert from "node:assert/strict";
import { killAtEveryChange } from "../../helpers/faults.ts";
import { withWalk } from "./congestion_control_kill_support.ts";
import { skipOutsideVm, vmKernel } from "./vm_env.ts";

function tests(): void {
  Deno.test("kill -9 at any kernel change of a CLI apply of a new build (link update): the next run converges", async () => {
    await withWalk(async (w) => {
      await w.converged("apply");
      w.staleBuild();
      const changes = await killAtEveryChange((fault) => w.cli("apply", fault), {
        converge: () => w.converged("apply"),
        reset: () => Promise.resolve(w.staleBuild()),
      });
      assert.ok(changes >= 1, `update makes ${changes} change(s)`);
    });
  });
}

if (!vmKernel()) skipOutsideVm("CongestionControl kill walk over a new build (registers sf_reno)");
else tests();
