/**
 * Probing which endpoint flags the running kernel keeps. The in-kernel path
 * manager silently masks flag bits it does not know, so an old kernel would
 * accept `laminar` (Linux 6.18) and drop it: the only honest test is to add
 * an endpoint and read it back. That happens in a private, throw-away netns
 * so no real netns ever sees the probe endpoint.
 *
 * @module
 */
import { check, CLONE_NEWNET, libc } from "../libc/ffi.ts";
import { openNetns, SELF_NETNS } from "../system/netns.ts";
import { MptcpPm } from "./mptcp_pm.ts";

/**
 * Opens an `MptcpPm` in a brand-new netns that only the returned socket keeps
 * alive: unshare(CLONE_NEWNET) moves this thread alone, the socket is created
 * there, and the thread goes straight back. Closing the socket frees the netns.
 */
function openInScratchNetns(): MptcpPm {
  const home = openNetns(SELF_NETNS);
  try {
    check("unshare(CLONE_NEWNET)", libc().unshare(CLONE_NEWNET));
    try {
      return MptcpPm.open();
    } finally {
      check("setns(back)", libc().setns(home, CLONE_NEWNET));
    }
  } finally {
    libc().close(home);
  }
}

/**
 * True when the kernel stores `flag` on an endpoint instead of masking it.
 *
 * @example Does this kernel know laminar endpoints?
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function report(): void {
 *   if (!kernelKeepsEndpointFlag("laminar")) console.log("laminar needs Linux ≥ 6.18");
 * }
 * ```
 */
export function kernelKeepsEndpointFlag(flag: string): boolean {
  const pm = openInScratchNetns();
  try {
    // TEST-NET-1: an address nothing routes, in a netns nothing uses.
    const stored = pm.addEndpoint({ address: "192.0.2.1", flags: [flag] });
    return stored.flags.includes(flag);
  } finally {
    pm.close();
  }
}
