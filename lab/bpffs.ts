/**
 * A private bpffs mount per test, so state roots never collide and a test
 * leaves nothing in /sys/fs/bpf. The demo uses the same mount helper.
 *
 * @module
 */
import { type PrivateBpffs, privateBpffsMount } from "../providers/state/bpffs.ts";

export type { PrivateBpffs };

/**
 * Mounts a fresh bpffs in a temp dir.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { applyStack, kernelStore, type Stack } from "../mod.ts";
 *
 * async function applyPrivately(stack: Stack): Promise<void> {
 *   const fs = privateBpffs();
 *   try { await applyStack(stack, kernelStore(fs.root)); } finally { fs.cleanup(); }
 * }
 * ```
 */
export function privateBpffs(): PrivateBpffs {
  return privateBpffsMount();
}
