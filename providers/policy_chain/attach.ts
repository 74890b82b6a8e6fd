/**
 * Attaching a PolicyChain program to a device: a tcx link per tc hook, or
 * the device's XDP link.
 *
 * @module
 */
import type { Hook } from "../../resources/policy_chain.ts";
import { libbpf, unwrap } from "../libbpf/ffi.ts";
import { BPF_TCX_EGRESS, BPF_TCX_INGRESS, BPF_XDP } from "../libbpf/uapi.ts";
import { kernelChanged } from "../libbpf/change_hook.ts";
import { inNetns } from "../system/netns.ts";

/** The link attach type of each hook (tcx, or XDP). */
export const ATTACH_TYPE: Record<Hook, number> = {
  ingress: BPF_TCX_INGRESS,
  egress: BPF_TCX_EGRESS,
  xdp: BPF_XDP,
};

/**
 * Attaches a program to a device's tcx hook inside `netns`, appended after
 * the programs already there; or, for `xdp`, as the device's XDP link
 * (native mode where the driver has it), which the kernel refuses when the
 * device already has an XDP program.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function attachIngress(progFd: number): number {
 *   return attachTcx(progFd, "/run/netns/edge", 4, "ingress");
 * }
 * ```
 */
export function attachTcx(
  progFd: number,
  netns: string | null,
  ifindex: number,
  hook: Hook,
  dev = `ifindex ${ifindex}`,
): number {
  const fd = inNetns(
    netns ?? undefined,
    () => libbpf().bpf_link_create(progFd, ifindex, ATTACH_TYPE[hook], null),
  );
  if (hook === "xdp" && (fd === -16 || fd === -17)) { // libbpf's -EBUSY, -EEXIST
    throw new Error(
      `${dev} already has an XDP program (another link, or one attached by ip link / netlink, native or generic): a PolicyChain never replaces it; detach it or drop "xdp" from ${dev}'s hooks`,
    );
  }
  const what = hook === "xdp" ? "xdp" : `tcx ${hook}`;
  const linkFd = unwrap(`bpf_link_create(${what}, ${dev})`, fd);
  kernelChanged(`bpf_link_create(${what})`, false);
  return linkFd;
}
