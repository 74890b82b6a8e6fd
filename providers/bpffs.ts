/**
 * The state root on bpffs: refuse anything that is not bpffs, except that an
 * empty /sys/fs/bpf is mounted the way systemd would.
 *
 * @module
 */
import { check, cstr, libc } from "./libc/ffi.ts";
import { UserError } from "../engine/errors.ts";
import { pathExists } from "./pin_dir.ts";

/** statfs f_type of bpffs. */
const BPF_FS_MAGIC = 0xcafe4a11n;
/** Where systemd mounts bpffs. */
export const SYSTEM_BPFFS = "/sys/fs/bpf";
/** The default state root. */
export const DEFAULT_STATE_ROOT = "/sys/fs/bpf/sockform";

/** True when `path` is on a bpffs mount. */
export function isBpffs(path: string): boolean {
  const buf = new Uint8Array(120);
  if (libc().statfs(cstr(path), buf) < 0) return false;
  return new DataView(buf.buffer).getBigUint64(0, true) === BPF_FS_MAGIC;
}

function nearestExisting(path: string): string {
  let p = path;
  while (p !== "/" && !pathExists(p)) p = p.replace(/\/[^/]+\/?$/, "") || "/";
  return p;
}

function isEmptyDir(path: string): boolean {
  for (const _ of Deno.readDirSync(path)) return false;
  return true;
}

/**
 * Makes sure `root` can hold state: on bpffs, created 0700, not a symlink.
 * Mounts bpffs on an empty /sys/fs/bpf; refuses every other non-bpffs place.
 *
 * @example
 * ```ts
 * ensureStateRoot("/sys/fs/bpf/sockform");
 * ```
 */
export function ensureStateRoot(root: string): void {
  const base = nearestExisting(root);
  if (!isBpffs(base)) {
    const sysRoot = root === SYSTEM_BPFFS || root.startsWith(SYSTEM_BPFFS + "/");
    if (sysRoot && pathExists(SYSTEM_BPFFS) && !isBpffs(SYSTEM_BPFFS) && isEmptyDir(SYSTEM_BPFFS)) {
      check("mount(bpf)", libc().mount(cstr("bpf"), cstr(SYSTEM_BPFFS), cstr("bpf"), 0n, null));
    } else {
      throw new UserError(
        `state root ${root} is not on bpffs (mount one: mount -t bpf bpf ${SYSTEM_BPFFS}, ` +
          `or pass --state-root DIR on a bpffs mount)`,
      );
    }
  }
  if (pathExists(root) && Deno.lstatSync(root).isSymlink) {
    throw new UserError(`state root ${root} is a symbolic link; sockform never follows links`);
  }
  Deno.mkdirSync(root, { recursive: true, mode: 0o700 });
}

/** A private bpffs mount (for demos and tests); `root` is a state root inside it. */
export interface PrivateBpffs {
  mount: string;
  root: string;
  /** Lazily unmounts (objects pinned only there are freed) and removes the directory. */
  cleanup(): void;
}

/**
 * Mounts a fresh bpffs in a temp dir, so nothing lands in /sys/fs/bpf.
 *
 * @example
 * ```ts
 * const fs = privateBpffsMount();
 * try { await applyStack(stack, kernelStore(fs.root)); } finally { fs.cleanup(); }
 * ```
 */
export function privateBpffsMount(): PrivateBpffs {
  const mount = Deno.makeTempDirSync({ prefix: "sf-bpffs-" });
  check(`mount(bpf, ${mount})`, libc().mount(cstr("bpf"), cstr(mount), cstr("bpf"), 0n, null));
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
