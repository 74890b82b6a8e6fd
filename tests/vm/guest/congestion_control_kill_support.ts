/**
 * The kill -9 walk of CongestionControl's guest tests
 * (congestion_control_kill_{create,update,destroy}_test.ts): CongestionControl under kill -9 at every kernel change of a CLI apply
 * (create, then a new build's link update) and destroy, inside the VM: the
 * next run (in-process: a CLI start costs tens of seconds under TCG) converges, with sf_reno registered exactly when the stack is
 * deployed and the metadata naming the build that is registered.
 *
 * @module
 */
import assert from "node:assert/strict";
import { applyStack, CongestionControl, destroyStack, plan, Stack } from "../../../mod.ts";
import { kernelStore } from "../../../providers/state/kernel_store.ts";
import { privateBpffs } from "../../../lab/bpffs.ts";
import { readMeta, writeMeta } from "../../../providers/state/meta.ts";
import { availableCongestion } from "../../../providers/congestion_control/kernel.ts";
import * as sfReno from "../../../bpf/gen/sf_reno.ts";
import { runCli } from "../../helpers/sockform_cli.ts";

const REPO = new URL("../../../", import.meta.url).pathname;
/** The name sf_reno registers under. */
export const NAME = "sf_reno";
/** The one-resource stack the walks apply. */
export const stack = () => new Stack("kc", [new CongestionControl("reno", { program: "sfReno" })]);
/** Whether the kernel lists NAME. */
export const listed = () => availableCongestion().includes(NAME);

/** What a walk step has at hand. */
export interface Walk {
  /** Runs the CLI on the stack file, with SOCKFORM_FAULT set to `fault` if given. */
  cli(command: string, fault?: string): ReturnType<typeof runCli>;
  /** Runs `command` in-process and checks the kernel and the plan agree with it. */
  converged(command: "apply" | "destroy"): Promise<void>;
  /** Marks the deployed build as an older one, so the next apply updates the link's map. */
  staleBuild(): void;
}

/**
 * A private bpffs and a stack file for the CLI, `fn`, then a destroy and a check that
 * nothing stays registered.
 *
 * @example A walk over apply
 * ```ts
 * await withWalk((w) => killAtEveryChange((f) => w.cli("apply", f), { converge, reset }));
 * ```
 */
export async function withWalk(fn: (walk: Walk) => Promise<void>): Promise<void> {
  assert.ok(!listed(), `${NAME} is free before the test`);
  const fs = privateBpffs();
  const store = kernelStore(fs.root);
  const dir = `${fs.root}/kc/reno`;
  const file = Deno.makeTempFileSync({ prefix: "sf-cc-kill-", suffix: ".ts" });
  Deno.writeTextFileSync(
    file,
    `import { CongestionControl, Stack } from "${REPO}mod.ts";\n` +
      `export default new Stack("kc", [new CongestionControl("reno", { program: "sfReno" })]);\n`,
  );
  const cli = async (command: string, fault?: string) => {
    const started = Date.now();
    const r = await runCli([command, "--auto-approve", "-s", file, "--state-root", fs.root], {
      env: fault ? { SOCKFORM_FAULT: fault } : {},
    });
    console.log(
      `${command} ${fault ?? ""}: exit ${r.code} ${r.signal ?? ""} in ${Date.now() - started} ms`,
    );
    return r;
  };
  // The killed run is a CLI process; the run after it is in-process (the same engine), as a
  // CLI start costs tens of seconds under TCG.
  const converged = async (command: "apply" | "destroy") => {
    await (command === "apply" ? applyStack : destroyStack)(stack(), store);
    assert.equal(listed(), command === "apply", `${command}: ${NAME} registered or not`);
    const actions = (await plan(stack(), store)).steps.map((s) => s.action);
    assert.deepEqual(actions, [command === "apply" ? "no-op" : "create"]);
    if (command === "apply") assert.equal(readMeta(dir)!.objectHash, sfReno.objectHash);
  };
  const staleBuild = () => writeMeta(dir, { ...readMeta(dir)!, objectHash: "0".repeat(64) });
  try {
    await fn({ cli, converged, staleBuild });
  } finally {
    await destroyStack(stack(), store).catch(() => {});
    Deno.removeSync(file);
    fs.cleanup();
  }
  assert.ok(!listed(), `${NAME} unregistered after the test`);
}
