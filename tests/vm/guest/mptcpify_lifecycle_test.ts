// @vm-kernels 6.12
/**
 * MptcpifyHook's apply loop on the 6.12 VM: the CLI, as a subprocess, killed
 * with SIGKILL right after its step (SOCKFORM_FAULT=kill-after:1) leaves a
 * state that a re-plan accepts or a re-run finishes; an injected failure
 * (fail-after:1) rolls create and rescope back. Plans run in-process on the
 * same example stack (a CLI start costs seconds under TCG).
 *
 * @module
 */
import assert from "node:assert/strict";
import { mptcpifyStack } from "../../../examples/mptcpify_stack.ts";
import { plan } from "../../../engine/plan.ts";
import { applyStack, destroyStack } from "../../../engine/session.ts";
import { StepError } from "../../../engine/errors.ts";
import { kernelStore } from "../../../providers/state/kernel_store.ts";
import { BpfLink } from "../../../providers/libbpf/link.ts";
import { privateBpffs } from "../../../lab/bpffs.ts";
import { failAtEveryChange, withFault } from "../../helpers/faults.ts";
import { readMeta, writeMeta } from "../../../providers/state/meta.ts";
import { skipOutsideVm, vmKernel } from "./vm_env.ts";
import {
  asComm,
  cli,
  fmodRetLinkIds,
  IPPROTO,
  settle,
  socketProtocol,
} from "./mptcpify_support.ts";

const STACK_FILE = "examples/mptcpify_stack.ts";
const HOOK_DIR = "mptcpify/legacy-apps";

/** The CLI on the example stack with `commands` in scope, killed after its first step. */
async function killedAfterStep(command: "apply" | "destroy", root: string, commands: string) {
  const run = await cli([command, "--auto-approve", "-s", STACK_FILE], {
    SOCKFORM_STATE_ROOT: root,
    SOCKFORM_MPTCPIFY_COMMANDS: commands,
    SOCKFORM_FAULT: "kill-after:1",
  });
  assert.equal(run.signal, "SIGKILL", `expected a SIGKILL, got code ${run.code}: ${run.stderr}`);
}

/** The actions an in-process plan of the example stack proposes. */
async function actions(root: string, commands: string): Promise<string[]> {
  const p = await plan(mptcpifyStack({ commands: [commands] }), kernelStore(root));
  return p.steps.map((s) => s.action);
}

function linkId(root: string): number | null {
  const link = BpfLink.openPinned(`${root}/${HOOK_DIR}/link`);
  if (!link) return null;
  try {
    return link.info().id;
  } finally {
    link.close();
  }
}

const as = (comm: string) => () => asComm(comm, () => socketProtocol());

const vm = vmKernel();
if (!vm) {
  skipOutsideVm("MptcpifyHook lifecycle tests");
} else {
  Deno.test("kill -9 after each step: a re-plan converges (create, rescope, destroy)", async (t) => {
    const fs = privateBpffs();
    try {
      await t.step(
        "create, killed after its step: the hook is complete, the plan empty",
        async () => {
          await killedAfterStep("apply", fs.root, "sf-kill-a");
          assert.deepEqual(await actions(fs.root, "sf-kill-a"), ["no-op"]);
          assert.equal(as("sf-kill-a")(), IPPROTO.MPTCP);
        },
      );
      const created = linkId(fs.root);
      await t.step(
        "rescope, killed after its step: same link, new scope, the plan empty",
        async () => {
          await killedAfterStep("apply", fs.root, "sf-kill-b");
          assert.deepEqual(await actions(fs.root, "sf-kill-b"), ["no-op"]);
          assert.equal(linkId(fs.root), created);
          assert.equal(as("sf-kill-a")(), IPPROTO.TCP);
          assert.equal(as("sf-kill-b")(), IPPROTO.MPTCP);
        },
      );
      await t.step(
        "destroy, killed after its step: the hook is gone with the process",
        async () => {
          await killedAfterStep("destroy", fs.root, "sf-kill-b");
          assert.equal(await settle(as("sf-kill-b"), IPPROTO.TCP), IPPROTO.TCP);
          assert.deepEqual(fmodRetLinkIds(), []);
          assert.deepEqual(await actions(fs.root, "sf-kill-b"), ["create"]);
        },
      );
      await t.step("a plain apply and destroy then finish cleanly", async () => {
        const stack = mptcpifyStack({ commands: ["sf-kill-b"] });
        await applyStack(stack, kernelStore(fs.root));
        assert.equal(as("sf-kill-b")(), IPPROTO.MPTCP);
        await destroyStack(stack, kernelStore(fs.root));
        assert.equal(as("sf-kill-b")(), IPPROTO.TCP);
        assert.deepEqual(fmodRetLinkIds(), []);
      });
    } finally {
      await destroyStack(mptcpifyStack(), kernelStore(fs.root));
      fs.cleanup();
    }
  });

  Deno.test("an injected failure rolls back create and rescope", async () => {
    const fs = privateBpffs();
    const stack = (comm: string) => mptcpifyStack({ commands: [comm] });
    try {
      const failedCreate = await withFault(
        "fail-after:1",
        () => applyStack(stack("sf-fail-a"), kernelStore(fs.root)).then(() => null, (e) => e),
      );
      assert.ok(failedCreate instanceof StepError, String(failedCreate));
      assert.match(failedCreate.message, /^step "create MptcpifyHook\.legacy-apps" failed/);
      assert.deepEqual(fmodRetLinkIds(), [], "rolled back: no link");
      assert.equal(as("sf-fail-a")(), IPPROTO.TCP);
      assert.deepEqual(await actions(fs.root, "sf-fail-a"), ["create"]);
      await applyStack(stack("sf-fail-a"), kernelStore(fs.root));
      const id = linkId(fs.root);
      const failedRescope = await withFault(
        "fail-after:1",
        () => applyStack(stack("sf-fail-b"), kernelStore(fs.root)).then(() => null, (e) => e),
      );
      assert.ok(failedRescope instanceof StepError, String(failedRescope));
      assert.equal(linkId(fs.root), id);
      assert.equal(as("sf-fail-a")(), IPPROTO.MPTCP, "old scope restored");
      assert.equal(as("sf-fail-b")(), IPPROTO.TCP);
      assert.deepEqual(
        await actions(fs.root, "sf-fail-a"),
        ["no-op"],
        "kernel matches the old stack",
      );
    } finally {
      await destroyStack(mptcpifyStack(), kernelStore(fs.root));
      fs.cleanup();
    }
  });

  Deno.test("a failure at any kernel change of create, or of a rescope with a program swap, rolls back exactly", async () => {
    const fs = privateBpffs();
    const stack = (comm: string) => mptcpifyStack({ commands: [comm] });
    try {
      const created = await failAtEveryChange(
        () => applyStack(stack("sf-walk-a"), kernelStore(fs.root)),
        (n) => {
          assert.deepEqual(fmodRetLinkIds(), [], `change ${n}: no link, not even for a moment`);
          assert.equal(as("sf-walk-a")(), IPPROTO.TCP, `change ${n}`);
        },
      );
      assert.ok(created >= 5, `create makes ${created} change(s)`);
      assert.equal(as("sf-walk-a")(), IPPROTO.MPTCP, "the walk's last create went through");
      const id = linkId(fs.root);
      const dir = `${fs.root}/${HOOK_DIR}`;
      // A stale build in the metadata forces a new link; rollbacks restore the stale one.
      writeMeta(dir, { ...readMeta(dir)!, objectHash: "0".repeat(64) });
      const rescoped = await failAtEveryChange(
        () => applyStack(stack("sf-walk-b"), kernelStore(fs.root)),
        (n) => {
          assert.equal(linkId(fs.root), id, `change ${n}: the old link is pinned again`);
          assert.deepEqual(fmodRetLinkIds(), [id], `change ${n}: the new link is gone`);
          assert.equal(as("sf-walk-a")(), IPPROTO.MPTCP, `change ${n}: old scope`);
          assert.equal(as("sf-walk-b")(), IPPROTO.TCP, `change ${n}`);
        },
      );
      assert.ok(rescoped >= 4, `rescope with a new link makes ${rescoped} change(s)`);
      assert.notEqual(linkId(fs.root), id, "the walk's last run swapped the link");
      assert.deepEqual(fmodRetLinkIds(), [linkId(fs.root)], "and released the old one");
      assert.equal(as("sf-walk-b")(), IPPROTO.MPTCP);
      assert.equal(as("sf-walk-a")(), IPPROTO.TCP);
    } finally {
      await destroyStack(mptcpifyStack(), kernelStore(fs.root));
      fs.cleanup();
    }
  });
}
