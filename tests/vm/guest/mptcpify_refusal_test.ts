// @vm-kernels 6.1
/**
 * MptcpifyHook on a stock Debian 6.1 kernel, which predates the
 * update_socket_protocol hook (6.6): plan refuses cleanly, naming the
 * requirement and this kernel, from a script and from the CLI.
 *
 * @module
 */
import assert from "node:assert/strict";
import { MptcpifyHook } from "../../../resources/mptcpify_hook.ts";
import { Stack } from "../../../engine/stack.ts";
import { plan } from "../../../engine/plan.ts";
import { PlanError } from "../../../engine/errors.ts";
import { kernelStore } from "../../../providers/state/kernel_store.ts";
import { has, UPDATE_SOCKET_PROTOCOL } from "../../../providers/system/features.ts";
import { privateBpffs } from "../../../lab/bpffs.ts";
import { skipOutsideVm, vmKernel } from "./vm_env.ts";
import { cli, fmodRetLinkIds } from "./mptcpify_support.ts";

const REFUSAL =
  /^legacy-apps: MptcpifyHook needs Linux ≥ 6\.6 with MPTCP enabled \(this kernel: 6\.1\.[^)]*\): its BTF has no update_socket_protocol$/;

const vm = vmKernel();
if (!vm) {
  skipOutsideVm("MptcpifyHook refusal tests");
} else {
  Deno.test("the 6.1 kernel has no update_socket_protocol hook in its BTF", () => {
    assert.equal(vm.series, "6.1");
    assert.ok(Deno.statSync("/sys/kernel/btf/vmlinux").isFile, "the kernel exports BTF");
    assert.equal(has(UPDATE_SOCKET_PROTOCOL), false);
  });

  Deno.test("plan() refuses MptcpifyHook with the ≥ 6.6 requirement and this kernel", async () => {
    const fs = privateBpffs();
    try {
      const stack = new Stack("mpy", [new MptcpifyHook("legacy-apps", {})]);
      const err = await plan(stack, kernelStore(fs.root)).then(() => null, (e) => e);
      assert.ok(err instanceof PlanError, `expected a PlanError, got ${err}`);
      assert.match(err.message, REFUSAL);
    } finally {
      fs.cleanup();
    }
  });

  Deno.test("the CLI prints the refusal as one line, exits 1 and attaches nothing", async () => {
    const fs = privateBpffs();
    try {
      const run = await cli(["apply", "--auto-approve", "-s", "examples/mptcpify_stack.ts"], {
        SOCKFORM_STATE_ROOT: fs.root,
      });
      assert.equal(run.code, 1);
      const errors = run.stderr.split("\n").filter((l) => l.startsWith("Error:"));
      assert.equal(errors.length, 1, run.stderr);
      assert.match(errors[0].replace(/^Error: /, ""), REFUSAL);
      assert.doesNotMatch(run.stderr, /^\s+at /m, "no stack trace");
      assert.deepEqual(fmodRetLinkIds(), []);
    } finally {
      fs.cleanup();
    }
  });
}
