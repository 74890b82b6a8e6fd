/**
 * The state root on bpffs: refuse anything that is not bpffs, except that an
 * empty /sys/fs/bpf is mounted the way systemd would.
 *
 * @module
 */
import { check, cstr, libc } from "../libc/ffi.ts";
import { UserError } from "../../engine/errors.ts";
import { pathExists } from "./pin_dir.ts";
import { assertPrivateDir, refuseSymlinkedPath } from "./state_perms.ts";

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
 * Mounts bpffs on `dir` with mode 0700, as systemd does: the default mode of
 * a bpffs mount is 1777, which lets any user create directories in it.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function mountDefault(): void {
 *   mountBpffs("/sys/fs/bpf");
 * }
 * ```
 */
export function mountBpffs(dir: string): void {
  const data = cstr("mode=0700");
  const rc = libc().mount(cstr("bpf"), cstr(dir), cstr("bpf"), 0n, Deno.UnsafePointer.of(data));
  check(`mount(bpf, ${dir})`, rc);
}

/**
 * Makes sure `root` can hold state: on bpffs, 0700 and owned by root, never
 * reached through a symlink. Mounts bpffs on an empty /sys/fs/bpf; refuses
 * every other non-bpffs place. With `create` false, a missing root is left
 * missing (plan and show change nothing).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function prepare(): void {
 *   ensureStateRoot("/sys/fs/bpf/sockform");
 * }
 * ```
 */
export function ensureStateRoot(root: string, create = true): void {
  refuseSymlinkedPath(root);
  const base = nearestExisting(root);
  if (!isBpffs(base)) {
    const sysRoot = root === SYSTEM_BPFFS || root.startsWith(SYSTEM_BPFFS + "/");
    if (sysRoot && pathExists(SYSTEM_BPFFS) && !isBpffs(SYSTEM_BPFFS) && isEmptyDir(SYSTEM_BPFFS)) {
      mountBpffs(SYSTEM_BPFFS);
    } else {
      throw new UserError(
        `state root ${root} is not on bpffs (mount one: mount -t bpf -o mode=0700 bpf ` +
          `${SYSTEM_BPFFS}, or pass --state-root DIR on a bpffs mount)`,
      );
    }
  }
  if (!create && !pathExists(root)) return;
  Deno.mkdirSync(root, { recursive: true, mode: 0o700 });
  assertPrivateDir(root, "state root");
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
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { applyStack, kernelStore, type Stack } from "../../mod.ts";
 *
 * async function applyPrivately(stack: Stack): Promise<void> {
 *   const fs = privateBpffsMount();
 *   try { await applyStack(stack, kernelStore(fs.root)); } finally { fs.cleanup(); }
 * }
 * ```
 */
export function privateBpffsMount(): PrivateBpffs {
  const mount = Deno.makeTempDirSync({ prefix: "sf-bpffs-" });
  mountBpffs(mount);
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
