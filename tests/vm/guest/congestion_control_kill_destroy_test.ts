// @vm-kernels 7.3
/**
 * CongestionControl under kill -9 at every kernel change of a CLI destroy, inside
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
  Deno.test("kill -9 at any kernel change of a CLI destroy: the next run converges", async () => {
    await withWalk(async (w) => {
      await w.converged("apply");
      const changes = await killAtEveryChange((fault) => w.cli("destroy", fault), {
        converge: () => w.converged("destroy"),
        reset: () => w.converged("apply"),
      });
      assert.ok(changes >= 2, `destroy makes ${changes} change(s)`);
    });
  });
}

if (!vmKernel()) skipOutsideVm("CongestionControl kill walk over destroy (registers sf_reno)");
else tests();
