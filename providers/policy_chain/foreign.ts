/**
 * Programs other than a PolicyChain's own on the tcx hooks it uses, in run
 * order relative to its links.
 *
 * @module
 */
import type { Hook } from "../../resources/policy_chain.ts";
import type { DriverContext, ForeignProgram, ResourceRef } from "../../engine/types.ts";
import { progInfo } from "../libbpf/info.ts";
import { libbpf } from "../libbpf/ffi.ts";
import { libc } from "../libc/ffi.ts";
import { queryProgIds } from "../libbpf/attachments.ts";
import { inNetns } from "../system/netns.ts";
import { ATTACH_TYPE, readLink } from "./kernel.ts";

/**
 * Programs other than ours on each device's tcx hooks, in run order
 * relative to ours. Classic tc filters are listed by foreign_tc.ts: the
 * kernel runs tcx first, then them.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ResourceRef } from "../../engine/types.ts";
 *
 * function foreignOnEth1(ref: ResourceRef) {
 *   const link = { dev: "eth1", ifindex: 4, hook: "ingress" as const, pin: "link-ingress-eth1" };
 *   return foreignOnDevices(ref, "/run/netns/edge", [link]);
 * }
 * ```
 */
export function foreignOnDevices(
  ref: ResourceRef,
  netns: string | null,
  links: readonly { dev: string; ifindex: number; hook: Hook; pin: string }[],
  _ctx?: DriverContext,
): ForeignProgram[] {
  const out: ForeignProgram[] = [];
  for (const l of links) {
    if (l.hook === "xdp") continue; // one program per device: a foreign one is a plan error (xdp.ts)
    const ids = inNetns(netns ?? undefined, () => queryProgIds(l.ifindex, ATTACH_TYPE[l.hook]));
    const own = readLink(ref.dir, l.pin);
    const ownAt = own ? ids.indexOf(own.progId) : -1;
    ids.forEach((id, at) => {
      if (id === own?.progId) return;
      const runs = ownAt < 0 ? "unknown" : at < ownAt ? "before" : "after";
      out.push({
        hook: `tcx ${l.hook}`,
        target: `dev ${l.dev}${netns ? ` in ${netns}` : ""}`,
        progId: id,
        linkId: null,
        ...progNameTag(id),
        owner: null,
        runs,
        canOverride: runs !== "after",
        effect: runs === "after"
          ? "runs after ours: it sees only the packets ours lets through"
          : "runs before ours: a packet it drops or passes never reaches the chain",
      });
    });
  }
  return out;
}

function progNameTag(id: number): { name: string; tag: string } {
  const fd = libbpf().bpf_prog_get_fd_by_id(id);
  if (fd < 0) return { name: "(gone)", tag: "" };
  try {
    const info = progInfo(fd);
    return { name: info.name, tag: info.tag };
  } finally {
    libc().close(fd);
  }
}
