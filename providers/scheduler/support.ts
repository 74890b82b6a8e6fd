/**
 * Whether the running kernel can take sockform's BPF MPTCP schedulers, read from its BTF:
 * the `mptcp_sched_ops` struct_ops wrapper type (what libbpf looks up to register one) and
 * the subflow iterator kfunc the shipped schedulers call. Stock kernels (6.1, 6.12, 6.18)
 * have neither; only the MPTCP developers' tree does.
 *
 * @module
 */
import { btfFunctionNames, btfStructNames, VMLINUX_BTF } from "../system/btf.ts";

/** The BTF type a kernel with BPF MPTCP schedulers describes. */
export const MPTCP_SCHED_BTF_TYPE = "bpf_struct_ops_mptcp_sched_ops";
/** The iterator kfunc the shipped schedulers walk subflows with. */
export const MPTCP_SUBFLOW_ITER_KFUNC = "bpf_iter_mptcp_subflow_new";
/** The refusal, word for word, on a kernel without BPF MPTCP schedulers. */
export const BPF_SCHEDULER_REFUSAL =
  `needs a kernel with the MPTCP BPF scheduler, BTF type ${MPTCP_SCHED_BTF_TYPE}`;

/** The answer of {@linkcode bpfSchedulerSupport}. */
export type BpfSchedulerSupport = { supported: true } | { supported: false; reason: string };

/**
 * Reads `btfPath` (the running kernel's BTF by default) and says whether BPF MPTCP
 * schedulers can be registered, or why not.
 *
 * @example Refuse early on a stock kernel
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function refuseEarly(): void {
 *   const s = bpfSchedulerSupport();
 *   if (!s.supported) throw new Error(s.reason); // "needs a kernel with the MPTCP BPF scheduler, ..."
 * }
 * ```
 */
export function bpfSchedulerSupport(btfPath = VMLINUX_BTF): BpfSchedulerSupport {
  let blob: Uint8Array;
  try {
    blob = Deno.readFileSync(btfPath);
  } catch {
    return { supported: false, reason: `${BPF_SCHEDULER_REFUSAL} (no BTF at ${btfPath})` };
  }
  if (!btfStructNames(blob).has(MPTCP_SCHED_BTF_TYPE)) {
    return { supported: false, reason: BPF_SCHEDULER_REFUSAL };
  }
  if (!btfFunctionNames(blob).has(MPTCP_SUBFLOW_ITER_KFUNC)) {
    return {
      supported: false,
      reason: `${BPF_SCHEDULER_REFUSAL} and the kfunc ${MPTCP_SUBFLOW_ITER_KFUNC}` +
        " (this kernel has an older scheduler API)",
    };
  }
  return { supported: true };
}
