/**
 * The MPTCP in-kernel path manager over generic netlink (`mptcp_pm`):
 * endpoints (GET_ADDR dump, ADD_ADDR, DEL_ADDR, SET_FLAGS, FLUSH_ADDRS) and
 * limits (GET_LIMITS, SET_LIMITS), per network namespace.
 *
 * `MptcpPm` keeps one socket open for a batch of calls; the free functions
 * open and close one per call.
 *
 * @module
 */
import { KernelCallError } from "../system/errno.ts";
import { concatBytes } from "./codec.ts";
import { GenlSocket } from "./genl.ts";
import { canonicalAddress } from "../../resources/common/inet.ts";
import {
  decodeEndpoint,
  decodeLimits,
  encodeEndpoint,
  encodeLimits,
  MPTCP_PM_CMD,
  MPTCP_PM_FAMILY,
  type MptcpEndpoint,
  type MptcpLimits,
  type NewMptcpEndpoint,
} from "./mptcp_pm_codec.ts";

export * from "./mptcp_pm_codec.ts";

/**
 * Upstream's MPTCP_PM_ADDR_MAX (net/mptcp/protocol.h): the largest value either
 * limit accepts, and what `probeLimitMax` falls back to when the kernel's
 * error text does not name its maximum.
 */
export const UPSTREAM_LIMIT_MAX = 8;

/** A value above any plausible kernel maximum, used only to provoke EINVAL. */
const PROBE_LIMIT = 0x7fff_ffff;

/** Which endpoint SET_FLAGS or DEL_ADDR acts on: by id, or by address (+ port). */
export type EndpointSelector = { id: number } | { address: string; port?: number };

/**
 * An open `mptcp_pm` session in one netns.
 *
 * @example Adding two endpoints with one socket
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function twoEndpoints(): void {
 *   const pm = MptcpPm.open("/run/netns/client");
 *   try {
 *     pm.addEndpoint({ address: "10.1.3.1", flags: ["subflow"] });
 *     pm.addEndpoint({ address: "10.1.2.1", flags: ["signal"] });
 *     console.log(pm.listEndpoints());
 *   } finally {
 *     pm.close();
 *   }
 * }
 * ```
 */
export class MptcpPm {
  readonly #sock: GenlSocket;
  readonly #familyId: number;

  private constructor(sock: GenlSocket) {
    this.#sock = sock;
    this.#familyId = sock.family(MPTCP_PM_FAMILY).id;
  }

  /** Opens a session in the netns at `netns` (default: the caller's). */
  static open(netns?: string): MptcpPm {
    const sock = GenlSocket.open(netns);
    try {
      return new MptcpPm(sock);
    } catch (err) {
      sock.close();
      throw err;
    }
  }

  /** Closes the socket. */
  close(): void {
    this.#sock.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #call(cmd: number, name: string, attrs: Uint8Array[], dump = false) {
    return this.#sock.request(this.#familyId, cmd, concatBytes(attrs), {
      dump,
      call: `mptcp_pm ${name}`,
    });
  }

  /** All endpoints of the netns, in the kernel's order (GET_ADDR dump). */
  listEndpoints(): MptcpEndpoint[] {
    return this.#call(MPTCP_PM_CMD.GET_ADDR, "GET_ADDR", [], true)
      .map((reply) => decodeEndpoint(reply.attrs));
  }

  /**
   * Adds an endpoint (ADD_ADDR) and returns it as the kernel stored it, with
   * the id the kernel picked when none was given.
   */
  addEndpoint(ep: NewMptcpEndpoint): MptcpEndpoint {
    this.#call(MPTCP_PM_CMD.ADD_ADDR, "ADD_ADDR", [
      encodeEndpoint({ ...ep, flags: ep.flags ?? [] }),
    ]);
    const stored = this.#find(ep.id !== undefined ? { id: ep.id } : ep);
    if (!stored) {
      throw new KernelCallError("mptcp_pm ADD_ADDR", 2, `endpoint ${ep.address} missing after add`);
    }
    return stored;
  }

  #find(sel: EndpointSelector): MptcpEndpoint | undefined {
    const all = this.listEndpoints();
    if ("id" in sel) return all.find((e) => e.id === sel.id);
    const address = canonicalAddress(sel.address);
    return all.find((e) => e.address === address && (e.port ?? 0) === (sel.port ?? 0));
  }

  /** Deletes an endpoint by id (DEL_ADDR). Id 0 also needs the address. */
  deleteEndpoint(sel: EndpointSelector | number): void {
    const target = typeof sel === "number" ? { id: sel } : sel;
    this.#call(MPTCP_PM_CMD.DEL_ADDR, "DEL_ADDR", [encodeEndpoint(target)]);
  }

  /**
   * Sets an endpoint's flags in place (SET_FLAGS), so connections keep their
   * subflows. The kernel changes only `backup` and `fullmesh` this way (and
   * `laminar` on kernels that allow it); other bits need delete + add.
   */
  setEndpointFlags(sel: EndpointSelector, flags: readonly string[]): void {
    this.#call(MPTCP_PM_CMD.SET_FLAGS, "SET_FLAGS", [encodeEndpoint({ ...sel, flags })]);
  }

  /** Removes every endpoint of the netns (FLUSH_ADDRS). */
  flushEndpoints(): void {
    this.#call(MPTCP_PM_CMD.FLUSH_ADDRS, "FLUSH_ADDRS", []);
  }

  /** The netns's limits (GET_LIMITS). */
  getLimits(): MptcpLimits {
    const [reply] = this.#call(MPTCP_PM_CMD.GET_LIMITS, "GET_LIMITS", []);
    if (!reply) throw new KernelCallError("mptcp_pm GET_LIMITS", 71, "no reply");
    return decodeLimits(reply.attrs);
  }

  /** Sets limits (SET_LIMITS); a limit left undefined keeps its value. */
  setLimits(limits: Partial<MptcpLimits>): void {
    this.#call(MPTCP_PM_CMD.SET_LIMITS, "SET_LIMITS", encodeLimits(limits));
  }

  /**
   * The largest value the kernel accepts for a limit. Asks for an absurd
   * limit, which the kernel refuses as a whole before changing anything, and
   * reads the maximum from its extended-ack text ("limit greater than maximum
   * (8)"); falls back to `UPSTREAM_LIMIT_MAX` when the text has no number. If
   * a kernel ever accepted the probe, the previous limits are restored.
   */
  probeLimitMax(): number {
    const before = this.getLimits();
    try {
      this.setLimits({ subflows: PROBE_LIMIT });
    } catch (err) {
      if (!(err instanceof KernelCallError) || err.errno !== 22) throw err;
      const named = /maximum \((\d+)\)/.exec(err.message);
      return named ? Number(named[1]) : UPSTREAM_LIMIT_MAX;
    }
    this.setLimits(before);
    return PROBE_LIMIT;
  }
}

/**
 * Opens an `MptcpPm` in `netns`, runs `fn`, and always closes it.
 *
 * @example Reading endpoints and limits with one socket
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function snapshot(): void {
 *   const state = withMptcpPm("/run/netns/client", (pm) => ({
 *     endpoints: pm.listEndpoints(),
 *     limits: pm.getLimits(),
 *   }));
 * }
 * ```
 */
export function withMptcpPm<T>(netns: string | undefined, fn: (pm: MptcpPm) => T): T {
  const pm = MptcpPm.open(netns);
  try {
    return fn(pm);
  } finally {
    pm.close();
  }
}

/**
 * Lists the endpoints of a netns (default: the caller's).
 *
 * @example Printing a netns's endpoints
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function show(): void {
 *   for (const ep of listEndpoints("/run/netns/client")) console.log(ep.id, ep.address, ep.flags);
 * }
 * ```
 */
export function listEndpoints(netns?: string): MptcpEndpoint[] {
  return withMptcpPm(netns, (pm) => pm.listEndpoints());
}

/**
 * Adds an endpoint and returns it with its kernel id.
 *
 * @example A subflow endpoint on the client's second path
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function add(): void {
 *   const ep = addEndpoint({ address: "10.1.3.1", flags: ["subflow"] }, "/run/netns/client");
 * }
 * ```
 */
export function addEndpoint(ep: NewMptcpEndpoint, netns?: string): MptcpEndpoint {
  return withMptcpPm(netns, (pm) => pm.addEndpoint(ep));
}

/**
 * Deletes an endpoint by id (or by id 0 + address).
 *
 * @example Removing endpoint 3
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function remove(): void {
 *   deleteEndpoint(3, "/run/netns/client");
 * }
 * ```
 */
export function deleteEndpoint(sel: EndpointSelector | number, netns?: string): void {
  withMptcpPm(netns, (pm) => pm.deleteEndpoint(sel));
}

/**
 * Changes an endpoint's flags in place (backup / fullmesh).
 *
 * @example Making an endpoint a backup path
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function makeBackup(): void {
 *   setEndpointFlags({ id: 2 }, ["subflow", "backup"], "/run/netns/client");
 * }
 * ```
 */
export function setEndpointFlags(
  sel: EndpointSelector,
  flags: readonly string[],
  netns?: string,
): void {
  withMptcpPm(netns, (pm) => pm.setEndpointFlags(sel, flags));
}

/**
 * Removes every endpoint of a netns.
 *
 * @example Starting from a clean slate
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function flush(): void {
 *   flushEndpoints("/run/netns/client");
 * }
 * ```
 */
export function flushEndpoints(netns?: string): void {
  withMptcpPm(netns, (pm) => pm.flushEndpoints());
}

/**
 * Reads a netns's limits.
 *
 * @example Reading the limits
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function limits(): void {
 *   const { subflows, addAddrAccepted } = getLimits("/run/netns/client");
 * }
 * ```
 */
export function getLimits(netns?: string): MptcpLimits {
  return withMptcpPm(netns, (pm) => pm.getLimits());
}

/**
 * Sets a netns's limits; a limit left undefined keeps its value.
 *
 * @example Allowing two extra subflows
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function twoSubflows(): void {
 *   setLimits({ subflows: 2, addAddrAccepted: 2 }, "/run/netns/client");
 * }
 * ```
 */
export function setLimits(limits: Partial<MptcpLimits>, netns?: string): void {
  withMptcpPm(netns, (pm) => pm.setLimits(limits));
}

/**
 * The kernel's maximum for either limit (upstream: 8), probed without
 * changing anything.
 *
 * @example Refusing an impossible spec at plan time
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function check(spec: { limits: { subflows: number } }): void {
 *   if (spec.limits.subflows > probeLimitMax()) throw new Error("too many subflows");
 * }
 * ```
 */
export function probeLimitMax(netns?: string): number {
  return withMptcpPm(netns, (pm) => pm.probeLimitMax());
}
