/**
 * Reading a CongestionControl back from the kernel: its pinned struct_ops
 * link (which map it registers, if any), the kernel's list of congestion
 * controls, and whether a struct_ops map is still loaded after its unregister.
 *
 * @module
 */
import type { CongestionControlState } from "../../resources/congestion_control.ts";
import { StructOpsLink } from "../libbpf/struct_ops.ts";
import { openPinQuiet } from "../libbpf/pins.ts";
import { libbpf } from "../libbpf/ffi.ts";
import { libc } from "../libc/ffi.ts";

/** Pin names inside the resource directory (plus `meta`, written last). */
export const PIN = { link: "link" } as const;

const AVAILABLE = "/proc/sys/net/ipv4/tcp_available_congestion_control";

/**
 * net.ipv4.tcp_available_congestion_control, as a list.
 *
 * @example Is sf_reno registered?
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function sfRenoRegistered(): boolean {
 *   return availableCongestion().includes("sf_reno");
 * }
 * ```
 */
export function availableCongestion(): string[] {
  return Deno.readTextFileSync(AVAILABLE).trim().split(/\s+/).filter(Boolean);
}

/**
 * The struct_ops map id the pinned link registers: null when there is no
 * link pin (or it is not a struct_ops link), 0 once the link was detached.
 *
 * @example The pinned link's map
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function linkMap(dir: string): number | null {
 *   return registeredMapId(`${dir}/link`);
 * }
 * ```
 */
export function registeredMapId(path: string): number | null {
  const fd = openPinQuiet(path, "link");
  if (fd === null) return null;
  const link = StructOpsLink.fromFd(fd);
  try {
    return link.mapId();
  } catch {
    return null; // a foreign link at our pin name: treated as missing
  } finally {
    link.close();
  }
}

/**
 * Reads one resource's directory.
 *
 * @example A resource's directory
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function registeredMap(dir: string): number | undefined {
 *   return readState(dir).link?.mapId;
 * }
 * ```
 */
export function readState(dir: string): CongestionControlState {
  const mapId = registeredMapId(`${dir}/${PIN.link}`);
  return { link: mapId === null ? null : { mapId }, available: availableCongestion() };
}

/**
 * True while the struct_ops map `id` still exists (a congestion control that
 * is unregistered but still used by connections).
 *
 * @example Still releasing?
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function report(mapId: number): void {
 *   if (mapLoaded(mapId)) console.log("still releasing");
 * }
 * ```
 */
export function mapLoaded(id: number): boolean {
  const fd = libbpf().bpf_map_get_fd_by_id(id);
  if (fd < 0) return false;
  libc().close(fd);
  return true;
}
