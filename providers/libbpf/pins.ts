/**
 * Pinning on bpffs: objects pinned mode 0600, paths checked for symlinks.
 *
 * @module
 */
import { libbpf, unwrap } from "./ffi.ts";
import { cstr } from "../libc/ffi.ts";
import { KernelCallError } from "../system/errno.ts";
import { kernelChanged } from "./change_hook.ts";

/** Throws if `path` (or its parent directory) is a symlink: pins never follow links. */
export function refuseSymlink(path: string): void {
  for (const p of [path, path.replace(/\/[^/]+\/?$/, "")]) {
    try {
      if (Deno.lstatSync(p).isSymlink) {
        throw new KernelCallError(
          "pin",
          40,
          `${p} is a symbolic link; sockform never follows links`,
        );
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}

/**
 * Pins an object fd at `path` with mode 0600.
 *
 * @example
 * ```ts
 * pinFd(linkFd, "/sys/fs/bpf/sockform/demo/web/link");
 * ```
 */
export function pinFd(fd: number, path: string): void {
  refuseSymlink(path);
  unwrap(`bpf_obj_pin(${path})`, libbpf().bpf_obj_pin(fd, cstr(path)));
  Deno.chmodSync(path, 0o600);
  kernelChanged(`pin ${path}`, true);
}

/** Opens a pinned object; returns its fd, or null when nothing is pinned there. */
export function openPin(path: string): number | null {
  refuseSymlink(path);
  try {
    Deno.lstatSync(path);
  } catch {
    return null;
  }
  return unwrap(`bpf_obj_get(${path})`, libbpf().bpf_obj_get(cstr(path)));
}

/** Removes a pin if it exists. The object lives on while any fd holds it. */
export function unpin(path: string): void {
  try {
    Deno.removeSync(path);
    kernelChanged(`unpin ${path}`, true);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/**
 * Opens a pin; null when missing, unreadable or foreign (never throws).
 *
 * @example Before replacing a pin
 * ```ts
 * const fd = openPinQuiet(`${dir}/prog`);
 * ```
 */
export function openPinQuiet(path: string): number | null {
  try {
    return openPin(path);
  } catch {
    return null; // unreadable or foreign: nothing a rollback could restore
  }
}
