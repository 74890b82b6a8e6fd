/**
 * Kernel feature probes: one place, cached per process, each naming the
 * minimum kernel that has the feature, so a plan can say exactly what is
 * missing ("SocketLookupRedirect needs BPF sk_lookup (Linux ≥ 5.9)").
 *
 * @module
 */
import { libbpf } from "../libbpf/ffi.ts";
import { errno } from "../libc/ffi.ts";
import { KernelCallError } from "./errno.ts";
import { PlanError } from "../../engine/errors.ts";
import { kernelKeepsEndpointFlag } from "../netlink/mptcp_pm_probe.ts";
import { kernelHasBtfFunction } from "./btf.ts";
import {
  BPF_MAP_TYPE_SOCKHASH,
  BPF_PROG_TYPE_SK_LOOKUP,
  BPF_PROG_TYPE_SOCK_OPS,
} from "./libbpf/uapi.ts";

/** A named kernel capability and the first mainline release that has it. */
export interface Feature {
  name: string;
  minKernel: string;
  test: () => boolean;
}

/**
 * What a probe found: present, absent, or not knowable because this process
 * lacks the privilege the probe needs (`denied` says which call and why).
 */
export type Probed = boolean | { denied: string };

const cache = new Map<string, Probed>();

const EPERM = 1;
const EACCES = 13;
/** CapEff bits: CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF. */
const CAP = { NET_ADMIN: 12n, SYS_ADMIN: 21n, BPF: 39n } as const;

/**
 * Declares a probe. `test` runs at most once per process. It returns false
 * only when the kernel lacks the feature; a probe the kernel refuses for want
 * of privilege throws (a `KernelCallError` with EPERM or EACCES, or
 * `Deno.errors.PermissionDenied`), so it is never mistaken for "unsupported".
 *
 * @example
 * ```ts
 * const skLookup = probe("BPF sk_lookup programs", "5.9", () => progTypeSupported(BPF_PROG_TYPE_SK_LOOKUP));
 * ```
 */
export function probe(name: string, minKernel: string, test: () => boolean): Feature {
  return { name, minKernel, test };
}

/**
 * Runs (once) and returns what the probe found, telling "the kernel lacks it"
 * from "this process may not ask".
 *
 * @example
 * ```ts
 * const found = probeFeature(SK_LOOKUP); // true, false or { denied: "…" }
 * ```
 */
export function probeFeature(feature: Feature): Probed {
  let found = cache.get(feature.name);
  if (found === undefined) {
    found = runProbe(feature);
    cache.set(feature.name, found);
  }
  return found;
}

function runProbe(feature: Feature): Probed {
  try {
    return feature.test();
  } catch (e) {
    if (e instanceof Deno.errors.PermissionDenied) return { denied: e.message.split("\n")[0] };
    if (e instanceof KernelCallError && isPermissionErrno(e.errno)) return { denied: e.message };
    if (e instanceof Deno.errors.NotFound) return false;
    // Any other refusal from the kernel means it cannot do this; anything else is a bug.
    if (e instanceof KernelCallError) return false;
    throw e;
  }
}

/** True for EPERM and EACCES, the errnos of "not allowed" rather than "not there". */
export function isPermissionErrno(code: number): boolean {
  return code === EPERM || code === EACCES;
}

/** True when the running kernel has the feature (cached); false also when it cannot be asked. */
export function has(feature: Feature): boolean {
  return probeFeature(feature) === true;
}

/** The running kernel's release, e.g. `6.18.44`. */
export function kernelRelease(): string {
  return Deno.osRelease();
}

/**
 * Throws a plan-time `PlanError` naming the requirement when a feature is
 * missing, or naming the privilege when this process could not find out.
 *
 * @example
 * ```ts
 * requireFeature(SK_LOOKUP, "web", "SocketLookupRedirect");
 * ```
 */
export function requireFeature(feature: Feature, resource: string, kind: string): void {
  const found = probeFeature(feature);
  if (found === true) return;
  if (found !== false) {
    throw new PlanError(
      resource,
      "",
      `cannot check that this kernel has ${feature.name} for ${kind}: ${found.denied}; ` +
        "run as root (or with CAP_BPF and CAP_NET_ADMIN)",
    );
  }
  throw new PlanError(
    resource,
    "",
    `${kind} needs ${feature.name} (Linux ≥ ${feature.minKernel}); this kernel (${kernelRelease()}) does not have it`,
  );
}

/** This process's effective capabilities (CapEff in /proc/self/status). */
function effectiveCaps(): bigint {
  const hex = Deno.readTextFileSync("/proc/self/status").match(/^CapEff:\s*([0-9a-f]+)/m)?.[1];
  return hex ? BigInt(`0x${hex}`) : 0n;
}

/** True when this process may load BPF programs (CAP_BPF or CAP_SYS_ADMIN). */
export function mayUseBpf(): boolean {
  const caps = effectiveCaps();
  const bit = (n: bigint) => (caps >> n & 1n) === 1n;
  return bit(CAP.SYS_ADMIN) || (bit(CAP.BPF) && bit(CAP.NET_ADMIN));
}

/**
 * libbpf's probes answer 0 both for "unsupported" and for "not allowed": the
 * errno of the refused load, or the missing capability, tells them apart.
 */
function libbpfProbe(call: string, result: number): boolean {
  if (result === 1) return true;
  const code = result < 0 ? -result : errno();
  if (isPermissionErrno(code) || !mayUseBpf()) {
    throw new KernelCallError(
      call,
      isPermissionErrno(code) ? code : EPERM,
      "needs root or CAP_BPF",
    );
  }
  return false;
}

/** `libbpf_probe_bpf_prog_type` as a boolean; throws `KernelCallError` (EPERM) when not allowed to ask. */
export function progTypeSupported(progType: number): boolean {
  const r = libbpf().libbpf_probe_bpf_prog_type(progType, null);
  return libbpfProbe(`bpf(BPF_PROG_LOAD) probing program type ${progType}`, r);
}

/** `libbpf_probe_bpf_map_type` as a boolean; throws `KernelCallError` (EPERM) when not allowed to ask. */
export function mapTypeSupported(mapType: number): boolean {
  const r = libbpf().libbpf_probe_bpf_map_type(mapType, null);
  return libbpfProbe(`bpf(BPF_MAP_CREATE) probing map type ${mapType}`, r);
}

/** BPF_PROG_TYPE_SK_LOOKUP with SOCKHASH maps. */
export const SK_LOOKUP = probe(
  "BPF sk_lookup programs with SOCKHASH",
  "5.9",
  () => progTypeSupported(BPF_PROG_TYPE_SK_LOOKUP) && mapTypeSupported(BPF_MAP_TYPE_SOCKHASH),
);

/** BPF_PROG_TYPE_SOCK_OPS. */
export const SOCK_OPS = probe(
  "BPF sock_ops programs",
  "4.13",
  () => progTypeSupported(BPF_PROG_TYPE_SOCK_OPS),
);

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
