/**
 * Kernel feature probes: one place, cached per process, each naming the
 * minimum kernel that has the feature, so a plan can say exactly what is
 * missing ("SocketLookupRedirect needs BPF sk_lookup (Linux ≥ 5.9)").
 *
 * @module
 */
import { libbpf } from "./libbpf/ffi.ts";
import { PlanError } from "../engine/errors.ts";
import { kernelKeepsEndpointFlag } from "./netlink/mptcp_pm_probe.ts";
import { kernelHasBtfFunction } from "./btf.ts";

/** A named kernel capability and the first mainline release that has it. */
export interface Feature {
  name: string;
  minKernel: string;
  test: () => boolean;
}

const cache = new Map<string, boolean>();

/**
 * Declares a probe. `test` runs at most once per process.
 *
 * @example
 * ```ts
 * const skLookup = probe("BPF sk_lookup programs", "5.9", () => progTypeSupported(30));
 * ```
 */
export function probe(name: string, minKernel: string, test: () => boolean): Feature {
  return { name, minKernel, test };
}

/** True when the running kernel has the feature (cached). */
export function has(feature: Feature): boolean {
  let ok = cache.get(feature.name);
  if (ok === undefined) {
    try {
      ok = feature.test();
    } catch {
      ok = false;
    }
    cache.set(feature.name, ok);
  }
  return ok;
}

/** The running kernel's release, e.g. `6.18.44`. */
export function kernelRelease(): string {
  return Deno.osRelease();
}

/**
 * Throws a plan-time `PlanError` naming the requirement when a feature is missing.
 *
 * @example
 * ```ts
 * requireFeature(SK_LOOKUP, "web", "SocketLookupRedirect");
 * ```
 */
export function requireFeature(feature: Feature, resource: string, kind: string): void {
  if (has(feature)) return;
  throw new PlanError(
    resource,
    "",
    `${kind} needs ${feature.name} (Linux ≥ ${feature.minKernel}); this kernel (${kernelRelease()}) does not have it`,
  );
}

/** `libbpf_probe_bpf_prog_type` as a boolean. */
export function progTypeSupported(progType: number): boolean {
  return libbpf().libbpf_probe_bpf_prog_type(progType, null) === 1;
}

/** `libbpf_probe_bpf_map_type` as a boolean. */
export function mapTypeSupported(mapType: number): boolean {
  return libbpf().libbpf_probe_bpf_map_type(mapType, null) === 1;
}

/** BPF_PROG_TYPE_SK_LOOKUP (30) with SOCKHASH maps. */
export const SK_LOOKUP = probe(
  "BPF sk_lookup programs with SOCKHASH",
  "5.9",
  () => progTypeSupported(30) && mapTypeSupported(18),
);

/** BPF_PROG_TYPE_SOCK_OPS (13). */
export const SOCK_OPS = probe("BPF sock_ops programs", "4.13", () => progTypeSupported(13));

/** The `update_socket_protocol` fmod_ret hook (MptcpifyHook), found in the kernel's BTF. */
export const UPDATE_SOCKET_PROTOCOL = probe(
  "the update_socket_protocol BPF hook",
  "6.6",
  () => kernelHasBtfFunction("update_socket_protocol"),
);

/** MPTCP built into the kernel (its `net.mptcp` sysctls exist). */
export const MPTCP = probe("MPTCP (CONFIG_MPTCP)", "5.6", () => {
  return Deno.statSync("/proc/sys/net/mptcp/enabled").isFile;
});

/** Endpoints with the laminar flag, which older kernels silently drop. */
export const MPTCP_LAMINAR = probe(
  "MPTCP laminar endpoints",
  "6.18",
  () => kernelKeepsEndpointFlag("laminar"),
);
