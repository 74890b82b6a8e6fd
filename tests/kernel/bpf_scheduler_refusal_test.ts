/**
 * On a stock kernel (the 6.18 host) BPF MPTCP schedulers are refused with the exact
 * reason, read from the running kernel's BTF, and the kernel itself refuses to register
 * one: the detection matches what the kernel does.
 *
 * @module
 */
import assert from "node:assert/strict";
import { BPF_SCHEDULER_REFUSAL, bpfSchedulerSupport } from "../../providers/scheduler/support.ts";
import { registerScheduler, SHIPPED_SCHEDULERS } from "../../providers/scheduler/bpf_schedulers.ts";
import { KernelCallError } from "../../providers/system/errno.ts";

Deno.test("a stock kernel: BPF MPTCP schedulers unsupported, with the exact reason", () => {
  assert.deepEqual(bpfSchedulerSupport(), {
    supported: false,
    reason: "needs a kernel with the MPTCP BPF scheduler, BTF type bpf_struct_ops_mptcp_sched_ops",
  });
});

Deno.test("a stock kernel refuses to register a shipped scheduler", () => {
  assert.throws(() => registerScheduler(SHIPPED_SCHEDULERS.roundRobin), KernelCallError);
});

Deno.test("no BTF file: unsupported, naming the path", () => {
  const path = "/nonexistent/sockform-test/vmlinux";
  assert.deepEqual(bpfSchedulerSupport(path), {
    supported: false,
    reason: `${BPF_SCHEDULER_REFUSAL} (no BTF at ${path})`,
  });
});

const TEST_KERNEL_BTF = "/work/shared/kernels/mptcp-next/vmlinux.btf";
const haveTestKernel = (() => {
  try {
    return Deno.statSync(TEST_KERNEL_BTF).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: `the mptcp-next test kernel's BTF: supported${
    haveTestKernel ? "" : ` (skipped: no ${TEST_KERNEL_BTF})`
  }`,
  ignore: !haveTestKernel,
  fn: () => assert.deepEqual(bpfSchedulerSupport(TEST_KERNEL_BTF), { supported: true }),
});
