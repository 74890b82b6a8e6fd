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
} from "../libbpf/uapi.ts";

/** A named kernel capability and the first mainline release that has it. */
export interface Feature {
  name: string;
  minKernel: string;
  test: () => boolean;
}

/**
 * What a probe found: the kernel has the feature, lacks it (and the first
 * release that has it), or the probe itself failed, for want of privilege
 * (`denied`) or for another reason the kernel gave, so nothing is known.
 */
export type Probed =
  | { status: "supported" }
  | { status: "unsupported"; minKernel: string }
  | { status: "probe-failed"; reason: string; denied: boolean };

const cache = new Map<string, Probed>();

const EPERM = 1;
const EACCES = 13;
/** CapEff bits: CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF. */
const CAP = { NET_ADMIN: 12n, SYS_ADMIN: 21n, BPF: 39n } as const;

/**
 * Declares a probe. `test` runs at most once per process. It returns false
 * only when the kernel lacks the feature. Any failed call (a
 * `KernelCallError` or a `Deno.errors` error) makes the probe "probe-failed"
 * with that error as the reason, never "unsupported".
 *
 * @example
 * ```ts
 * import { BPF_PROG_TYPE_SK_LOOKUP } from "../libbpf/uapi.ts";
 *
 * const skLookup = probe("BPF sk_lookup programs", "5.9", () => progTypeSupported(BPF_PROG_TYPE_SK_LOOKUP));
 * skLookup.minKernel; // "5.9"
 * ```
 */
export function probe(name: string, minKernel: string, test: () => boolean): Feature {
  return { name, minKernel, test };
}

/**
 * Runs (once) and returns what the probe found, telling "the kernel lacks it"
 * from "the probe could not find out".
 *
 * @example
 * ```ts
 * const found = probeFeature(SK_LOOKUP);
 * if (found.status === "probe-failed") console.log(found.reason);
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
    return feature.test()
      ? { status: "supported" }
      : { status: "unsupported", minKernel: feature.minKernel };
  } catch (e) {
    if (e instanceof KernelCallError) {
      return { status: "probe-failed", reason: e.message, denied: isPermissionErrno(e.errno) };
    }
    if (e instanceof Error && Object.values(Deno.errors).some((c) => e instanceof c)) {
      const denied = e instanceof Deno.errors.PermissionDenied;
      return { status: "probe-failed", reason: e.message.split("\n")[0], denied };
    }
    throw e; // not a failed call: a bug
  }
}

/** True for EPERM and EACCES, the errnos of "not allowed" rather than "not there". */
export function isPermissionErrno(code: number): boolean {
  return code === EPERM || code === EACCES;
}

/** True when the running kernel has the feature (cached); false also when the probe failed. */
export function has(feature: Feature): boolean {
  return probeFeature(feature).status === "supported";
}

/**
 * Why a feature is missing, as a plan diagnostic names it, or null when the
 * kernel has it: "Linux ≥ N; this kernel (R) does not have it" when absent,
 * "cannot check …: reason" when the probe failed.
 *
 * @example
 * ```ts
 * const why = featureProblem(SK_LOOKUP, "SocketLookupRedirect");
 * ```
 */
export function featureProblem(feature: Feature, kind: string): string | null {
  const found = probeFeature(feature);
  if (found.status === "supported") return null;
  if (found.status === "probe-failed") {
    const hint = found.denied ? "; run as root (or with CAP_BPF and CAP_NET_ADMIN)" : "";
    return `cannot check that this kernel has ${feature.name} for ${kind}: ` +
      `probe failed: ${found.reason}${hint}`;
  }
  return `${kind} needs ${feature.name} (Linux ≥ ${found.minKernel}); ` +
    `this kernel (${kernelRelease()}) does not have it`;
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
 * // needs a kernel: type-checked by deno test --doc, not run
 * function preflight(): void {
 *   requireFeature(SK_LOOKUP, "web", "SocketLookupRedirect");
 * }
 * ```
 */
export function requireFeature(feature: Feature, resource: string, kind: string): void {
  const problem = featureProblem(feature, kind);
  if (problem) throw new PlanError(resource, "", problem);
}

/** This process's effective capabilities (CapEff in /proc/self/status). */
function effectiveCaps(): bigint {
  const hex = Deno.readTextFileSync("/proc/self/status").match(/^CapEff:\s*([0-9a-f]+)/m)?.[1];
  return hex ? BigInt(`0x${hex}`) : 0n;
}

/**
 * The capabilities sockform's kinds use (the deploy/ manifests grant exactly these), by CapEff bit.
 * CAP_SYS_PTRACE reads other processes' fds (SocketLookupRedirect's `{pid, fd}` and listener URLs).
 */
const NEEDED_CAPS = {
  BPF: 39n,
  NET_ADMIN: 12n,
  PERFMON: 38n,
  SYS_ADMIN: 21n,
  SYS_PTRACE: 19n,
  SYS_RESOURCE: 24n,
} as const;

/**
 * The capabilities sockform uses that this process does not have, as `CAP_…` names: a root whose
 * bounding set was cut (a container, a systemd unit) fails with EPERM where root normally succeeds.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function lacking(): string[] {
 *   return missingCapabilities(); // [] for a full root; e.g. ["CAP_NET_ADMIN"] in a cut-down container
 * }
 * ```
 */
export function missingCapabilities(): string[] {
  const caps = effectiveCaps();
  return Object.entries(NEEDED_CAPS).filter(([, bit]) => (caps >> bit & 1n) === 0n)
    .map(([name]) => `CAP_${name}`);
}

/** True when this process may load BPF programs (CAP_BPF or CAP_SYS_ADMIN). */
export function mayUseBpf(): boolean {
  const caps = effectiveCaps();
  const bit = (n: bigint) => (caps >> n & 1n) === 1n;
  return bit(CAP.SYS_ADMIN) || (bit(CAP.BPF) && bit(CAP.NET_ADMIN));
}

/**
 * libbpf's probes answer 1 (supported), 0 both for "unsupported" and for "not
 * allowed" (the errno of the refused load, or the missing capability, tells
 * them apart), and a negative errno when the probe itself could not run (a
 * type libbpf cannot probe, bad options): that is a failed probe, not an answer.
 */
function libbpfProbe(call: string, result: number): boolean {
  if (result === 1) return true;
  if (result < 0 && !isPermissionErrno(-result)) {
    throw new KernelCallError(call, -result, "libbpf could not run the probe");
  }
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

/** `libbpf_probe_bpf_prog_type` as a boolean; throws `KernelCallError` when not allowed to ask or the probe fails. */
export function progTypeSupported(progType: number): boolean {
  const r = libbpf().libbpf_probe_bpf_prog_type(progType, null);
  return libbpfProbe(`bpf(BPF_PROG_LOAD) probing program type ${progType}`, r);
}

/** `libbpf_probe_bpf_map_type` as a boolean; throws `KernelCallError` when not allowed to ask or the probe fails. */
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
  try {
    return Deno.statSync("/proc/sys/net/mptcp/enabled").isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
});

/** Endpoints with the laminar flag, which older kernels silently drop. */
export const MPTCP_LAMINAR = probe(
  "MPTCP laminar endpoints",
  "6.18",
  () => kernelKeepsEndpointFlag("laminar"),
);
