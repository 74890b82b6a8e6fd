/**
 * Reading and writing sysctls per network namespace, e.g. `net.mptcp.enabled`.
 *
 * Files under /proc/sys/net resolve to the netns of the thread that opens
 * them, so each access is a synchronous read or write inside `inNetns`.
 *
 * @module
 */
import { KernelCallError } from "./errno.ts";
import { inNetns } from "./netns.ts";

/** A value a sysctl can be written with; booleans become 1 / 0. */
export type SysctlValue = string | number | boolean;

/**
 * The /proc/sys path of a sysctl. Dotted names map dots to slashes; names
 * that already contain a slash are taken as paths (for keys holding dots,
 * such as `net/ipv4/conf/eth0.10/forwarding`).
 *
 * @example Mapping a dotted name
 * ```ts
 * sysctlPath("net.mptcp.enabled"); // "/proc/sys/net/mptcp/enabled"
 * ```
 */
export function sysctlPath(name: string): string {
  if (name.includes("..") || name.startsWith("/")) {
    throw new RangeError(`not a sysctl name: ${JSON.stringify(name)}`);
  }
  return `/proc/sys/${name.includes("/") ? name : name.replaceAll(".", "/")}`;
}

function osErrno(err: unknown): number {
  if (err instanceof Deno.errors.NotFound) return 2;
  if (err instanceof Deno.errors.PermissionDenied) return 13;
  const code = /os error (\d+)/.exec(err instanceof Error ? err.message : String(err));
  return code ? Number(code[1]) : 5;
}

function asKernelCallError(call: string, err: unknown): KernelCallError {
  const detail = err instanceof Error
    ? err.message.replace(/ \(os error \d+\).*$/, "")
    : String(err);
  return new KernelCallError(call, osErrno(err), detail);
}

/**
 * Reads a sysctl in a netns (default: the caller's), trimmed. Throws
 * `KernelCallError` (ENOENT when the kernel has no such sysctl).
 *
 * @example Is MPTCP enabled in the client netns?
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function clientMptcpOn(): boolean {
 *   return readSysctl("net.mptcp.enabled", "/run/netns/client") === "1";
 * }
 * ```
 */
export function readSysctl(name: string, netns?: string): string {
  const path = sysctlPath(name);
  try {
    return inNetns(netns, () => Deno.readTextFileSync(path)).trim();
  } catch (err) {
    throw asKernelCallError(`read sysctl ${name}`, err);
  }
}

/**
 * Writes a sysctl in a netns. Throws `KernelCallError` naming the sysctl (EINVAL
 * when the kernel refuses the value).
 *
 * @example Choosing the in-kernel path manager
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function useKernelPm(): void {
 *   writeSysctl("net.mptcp.path_manager", "kernel", "/run/netns/client");
 * }
 * ```
 */
export function writeSysctl(name: string, value: SysctlValue, netns?: string): void {
  const path = sysctlPath(name);
  const text = typeof value === "boolean" ? (value ? "1" : "0") : String(value);
  try {
    inNetns(netns, () => Deno.writeTextFileSync(path, text + "\n", { create: false }));
  } catch (err) {
    throw asKernelCallError(`write sysctl ${name}=${text}`, err);
  }
}

/**
 * True when the kernel has the sysctl in that netns (a feature probe, e.g.
 * `net.mptcp.path_manager` is new in 6.15, `net.mptcp.pm_type` older).
 *
 * @example Picking the path-manager knob
 * ```ts
 * const knob = hasSysctl("net.mptcp.path_manager") ? "net.mptcp.path_manager" : "net.mptcp.pm_type";
 * ```
 */
export function hasSysctl(name: string, netns?: string): boolean {
  const path = sysctlPath(name);
  try {
    return inNetns(netns, () => Deno.statSync(path).isFile);
  } catch {
    return false;
  }
}

/**
 * Reads several sysctls in one netns entry; missing ones map to undefined.
 *
 * @example Snapshotting MPTCP settings before a change
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function snapshot(ns?: string) {
 *   return readSysctls(["net.mptcp.enabled", "net.mptcp.checksum_enabled"], ns);
 * }
 * ```
 */
export function readSysctls(
  names: readonly string[],
  netns?: string,
): Record<string, string | undefined> {
  const paths = names.map((n) => [n, sysctlPath(n)] as const);
  return inNetns(netns, () => {
    const out: Record<string, string | undefined> = {};
    for (const [name, path] of paths) {
      try {
        out[name] = Deno.readTextFileSync(path).trim();
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) {
          throw asKernelCallError(`read sysctl ${name}`, err);
        }
        out[name] = undefined;
      }
    }
    return out;
  });
}
