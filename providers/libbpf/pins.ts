/**
 * Pinning on bpffs: objects pinned mode 0600, paths checked for symlinks.
 *
 * @module
 */
import { libbpf, unwrap } from "./ffi.ts";
import { cstr, libc } from "../libc/ffi.ts";
import { KernelCallError } from "../system/errno.ts";
import { kernelChanged } from "./change_hook.ts";

const EINVAL = 22;

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
 * // needs a kernel: type-checked by deno test --doc, not run
 * function pinLink(linkFd: number): void {
 *   pinFd(linkFd, "/sys/fs/bpf/sockform/demo/web/link");
 * }
 * ```
 */
export function pinFd(fd: number, path: string): void {
  refuseSymlink(path);
  unwrap(`bpf_obj_pin(${path})`, libbpf().bpf_obj_pin(fd, cstr(path)));
  Deno.chmodSync(path, 0o600);
  kernelChanged(`pin ${path}`, true);
}

/** The kinds of object a bpffs pin holds; `any` opens without checking. */
export type PinKind = "map" | "prog" | "link" | "any";

/**
 * The anon inode names the kernel gives map, program and link fds. A new
 * link's fd is `bpf_link` (bpf_link_prime), a reopened one `bpf-link`
 * (bpf_link_new_fd, as for a pin).
 */
const ANON_INODE_KINDS: Record<string, PinKind> = {
  "anon_inode:bpf-map": "map",
  "anon_inode:bpf-prog": "prog",
  "anon_inode:bpf_link": "link",
  "anon_inode:bpf-link": "link",
};

/**
 * What kind of BPF object an fd refers to, as the kernel names its file
 * (`anon_inode:bpf-map`, `bpf-prog`, `bpf_link` or `bpf-link`); `other` for anything else.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { BpfMap } from "./map.ts";
 *
 * function kindOf(map: BpfMap) {
 *   return objectKind(map.fd); // "map"
 * }
 * ```
 */
export function objectKind(fd: number): PinKind | "other" {
  return ANON_INODE_KINDS[Deno.readLinkSync(`/proc/self/fd/${fd}`)] ?? "other";
}

function assertKind(fd: number, path: string, want: PinKind): void {
  if (want === "any") return;
  const found = objectKind(fd);
  if (found === want) return;
  libc().close(fd);
  throw new KernelCallError(
    `bpf_obj_get(${path})`,
    EINVAL,
    `a ${found} is pinned at ${path} where a ${want} is expected`,
  );
}

/**
 * Opens a pinned object and checks that it is the kind expected (a map
 * pinned where a link is expected throws, naming both and the path); returns
 * its fd, or null when nothing is pinned there.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function webProgram(): void {
 *   const fd = openPin("/sys/fs/bpf/sockform/demo/web/prog", "prog");
 * }
 * ```
 */
export function openPin(path: string, kind: PinKind): number | null {
  refuseSymlink(path);
  try {
    Deno.lstatSync(path);
  } catch {
    return null;
  }
  const fd = unwrap(`bpf_obj_get(${path})`, libbpf().bpf_obj_get(cstr(path)));
  assertKind(fd, path, kind);
  return fd;
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
 * Opens a pin; null when missing, unreadable, foreign or of another kind (never throws).
 *
 * @example Before replacing a pin
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function pinnedProgram(dir: string): number | null {
 *   return openPinQuiet(`${dir}/prog`, "prog");
 * }
 * ```
 */
export function openPinQuiet(path: string, kind: PinKind): number | null {
  try {
    return openPin(path, kind);
  } catch {
    return null; // unreadable or foreign: nothing a rollback could restore
  }
}
