// Scheduler path roles under the in-kernel path manager, with real MPTCP
// traffic in the two-path lab: path B declared backup carries < 5 % of a
// transfer's bytes; editing it to active and re-applying during the same
// transfer brings it to ≥ 30 %. Bytes per path are the client subflows'
// `bytes_acked` (ss -ti), read from the kernel, not from sockform. Then the
// loop: no-op re-plan, a flag flipped by hand is drift that apply repairs,
// destroy gives the endpoint its flag and the netns its scheduler back.
import assert from "node:assert/strict";
import { applyStack, destroyStack, kernelStore, plan, Scheduler, Stack } from "../../mod.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import type { TwoPathLab } from "../../lab/two_path_lab.ts";
import { run } from "../../lab/command.ts";
import { readSysctl } from "../../providers/system/sysctl.ts";
import { withSchedulerLab } from "../helpers/scheduler_lab.ts";
import { editDuringTransfer } from "../helpers/scheduler_roles.ts";

function rolesStack(lab: TwoPathLab, roleB: "active" | "backup"): Stack {
  return new Stack("sched-roles", [
    new Scheduler("client", {
      netns: lab.client.path,
      paths: [
        { match: { dev: lab.paths[0].dev }, role: "active" },
        { match: { dev: lab.paths[1].dev }, role: roleB },
      ],
    }),
  ]);
}

/** The backup flag of the client's path-B endpoint (id 2), as iproute2 reads it. */
async function endpointBFlags(lab: TwoPathLab): Promise<string> {
  const out = await run(["ip", "-n", lab.client.name, "mptcp", "endpoint", "show", "id", "2"]);
  return out.trim();
}

Deno.test("Scheduler roles (kernel PM): a backup path idles, re-applied as active it carries ≥ 30 % of the same transfer", async (t) => {
  await withSchedulerLab(async (lab) => {
    const fs = privateBpffs();
    const store = kernelStore(fs.root);
    const scheduler = readSysctl("net.mptcp.scheduler", lab.client.path);
    try {
      await t.step("apply sets the endpoint's backup flag; the plan states the mode", async () => {
        assert.doesNotMatch(await endpointBFlags(lab), /backup/);
        const outcome = await applyStack(rolesStack(lab, "backup"), store);
        const mode = outcome.plan.steps[0].changes.find((c) => c.path === "mode");
        assert.match(
          mode?.reason ?? "",
          /kernel.*backup flag of the endpoints/,
          JSON.stringify(mode),
        );
        assert.match(await endpointBFlags(lab), /backup/);
        const again = await plan(rolesStack(lab, "backup"), store);
        assert.deepEqual(again.steps.map((s) => s.action), ["no-op"]);
      });
      await t.step(
        "backup < 5 %, then active ≥ 30 % during one transfer",
        () => editDuringTransfer(lab, store, (r) => rolesStack(lab, r), ["paths[1].role"]),
      );
      await t.step("a flag flipped by hand is drift; apply repairs it", async () => {
        await run([
          "ip",
          "-n",
          lab.client.name,
          "mptcp",
          "endpoint",
          "change",
          "id",
          "2",
          "backup",
        ]);
        const drift = await plan(rolesStack(lab, "active"), store);
        const change = drift.steps[0].changes.find((c) => c.path === "paths[1].role");
        assert.match(
          change?.reason ?? "",
          /changed outside the stack/,
          JSON.stringify(drift.steps),
        );
        await applyStack(rolesStack(lab, "active"), store);
        assert.doesNotMatch(await endpointBFlags(lab), /backup/);
      });
      await t.step("destroy gives the flag and the scheduler back", async () => {
        await applyStack(rolesStack(lab, "backup"), store);
        await destroyStack(rolesStack(lab, "backup"), store);
        assert.doesNotMatch(await endpointBFlags(lab), /backup/);
        assert.equal(readSysctl("net.mptcp.scheduler", lab.client.path), scheduler);
      });
    } finally {
      try {
        await destroyStack(rolesStack(lab, "active"), store);
      } finally {
        fs.cleanup();
      }
    }
  });
});
