/**
 * A private bpffs mount per test, so state roots never collide and a test
 * leaves nothing in /sys/fs/bpf.
 *
 * @module
 */
import { cstr, libc } from "../../providers/libc/ffi.ts";

/** A mounted private bpffs; `root` is a state root inside it. */
export interface PrivateBpffs {
  mount: string;
  root: string;
  /** Unmounts (objects pinned only there are freed) and removes the directory. */
  cleanup(): void;
}

/**
 * Mounts a fresh bpffs in a temp dir.
 *
 * @example
 * ```ts
 * const fs = privateBpffs();
 * try { await applyStack(stack, kernelStore(fs.root)); } finally { fs.cleanup(); }
 * ```
 */
export function privateBpffs(): PrivateBpffs {
  const mount = Deno.makeTempDirSync({ prefix: "sf-bpffs-" });
  const rc = libc().mount(cstr("bpf"), cstr(mount), cstr("bpf"), 0n, null);
  if (rc < 0) throw new Error(`mount -t bpf on ${mount} failed (are we root?)`);
  return {
    mount,
    root: `${mount}/sockform`,
    cleanup() {
      const MNT_DETACH = 2;
      libc().umount2(cstr(mount), MNT_DETACH);
      try {
        Deno.removeSync(mount, { recursive: true });
      } catch { /* already gone */ }
    },
  };
}
