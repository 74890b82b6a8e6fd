/**
 * The Scheduler's resolved desired state, what the driver reads back from the
 * kernel, and the memory it keeps in its metadata pin. All plain JSON.
 *
 * @module
 */
import type { AgentIdentity } from "../../providers/mptcp_agent/identity.ts";
import type { PmAgentDesired, PmAgentState } from "../path_manager/types.ts";

/** Which path manager carries the roles, and why (for the plan). */
export interface RoleMode {
  /** `kernel`: roles are endpoint flags; `userspace`: the agent flips each subflow. */
  mode: "kernel" | "userspace";
  /** One sentence: what decided it. */
  why: string;
}

/**
 * Where a BPF scheduler's bytes come from: a shipped one by its declared name,
 * or a user's object file with its struct_ops map.
 */
export type BpfSource =
  | { shipped: "roundRobin" | "redundant" | "backupFirst" }
  | { object: string; map: string };

/** A BPF scheduler the netns's connections should get. */
export interface BpfSchedulerDesired {
  /** Where its object comes from. */
  source: BpfSource;
  /** The name the kernel lists it under (`net.mptcp.available_schedulers`). */
  kernelName: string;
  /** sha256 of the object bytes. */
  objectHash: string;
}

/** An endpoint whose backup flag carries a declared role (kernel-PM mode). */
export interface EndpointRole {
  /** The endpoint's id. */
  id: number;
  /** Its address. */
  address: string;
  /** Its port, when it has one. */
  port?: number;
  /** The endpoint's flags as the plan read them. */
  flags: string[];
  /** The declared role as the flag: true for `backup`. */
  backup: boolean;
  /** The declaring path, e.g. `paths[1]`. */
  path: string;
}

/** What the driver resolves a spec to. */
export interface SchedDesired {
  /** The netns path; null means the caller's netns. */
  netns: string | null;
  /** The netns's inode. */
  netnsIno: number;
  /** The value `net.mptcp.scheduler` should hold (null: this kernel has no such sysctl). */
  scheduler: string | null;
  /** The BPF scheduler to register, when the spec names one. */
  bpf: BpfSchedulerDesired | null;
  /** Which path manager carries the roles. */
  mode: RoleMode;
  /** Kernel-PM mode: every endpoint on a declared path, with its declared role. */
  roles: EndpointRole[];
  /** Userspace mode: the roles agent (null without paths or in kernel-PM mode). */
  agent: PmAgentDesired | null;
  /** sha256 of the normalised spec. */
  specHash: string;
}

/** An endpoint as the Scheduler reads it. */
export interface SchedEndpoint {
  /** The endpoint's id. */
  id: number;
  /** Its address. */
  address: string;
  /** Its port, when it has one. */
  port?: number;
  /** Its flags, by name. */
  flags: string[];
  /** The interface it is bound to. */
  ifindex?: number;
}

/** A struct_ops link pinned in the resource directory. */
export interface SchedLink {
  /** The kernel name it was pinned for (the pin is `link_<name>`). */
  kernelName: string;
  /** The id of the struct_ops map it registers; 0 once detached. */
  mapId: number;
}

/** What the driver reads back; `netnsIno` is null when the netns is gone. */
export interface SchedState {
  /** The netns path, null for the caller's. */
  netns: string | null;
  /** The netns's inode, null when it is gone. */
  netnsIno: number | null;
  /** `net.mptcp.scheduler`, null when the kernel has none. */
  scheduler: string | null;
  /** The struct_ops links pinned in the resource directory. */
  links: SchedLink[];
  /** The netns's MPTCP endpoints. */
  endpoints: SchedEndpoint[];
  /** The roles agent, when one was started. */
  agent?: PmAgentState | null;
}

/** `ResourceMeta.extra` of a Scheduler. */
export interface SchedMemory {
  /** The netns path the last apply managed; null: the caller's netns. */
  netns: string | null;
  /** That netns's inode then, so a netns re-created under the same path is noticed. */
  netnsIno: number;
  /** `net.mptcp.scheduler` before the stack took over (null: no such sysctl). */
  originalScheduler: string | null;
  /** The BPF scheduler registered by the last apply. */
  bpf?: BpfSchedulerDesired;
  /** The role mode of the last apply. */
  mode: RoleMode["mode"];
  /** `address|port` → backup flag before the stack changed it, for every endpoint it changed. */
  originalBackup: Record<string, boolean>;
  /** The roles agent the last apply started. */
  agent?: AgentIdentity;
}

/** A Scheduler resolved with the netns as it is at plan time (what a create starts from). */
export interface SchedResolved extends SchedDesired {
  /** The live state of the netns when the plan was made. */
  baseline: SchedState;
}

/**
 * Reads the `extra` a Scheduler wrote; null when it is not one.
 *
 * @example
 * ```ts
 * upgradeSchedExtra({}, 1); // null
 * ```
 */
export function upgradeSchedExtra(extra: unknown, _schema: number): SchedMemory | null {
  const m = extra as Partial<SchedMemory> | undefined;
  if (!m || typeof m.netnsIno !== "number" || !m.originalBackup || !m.mode) return null;
  return m as SchedMemory;
}

/**
 * The identity of an endpoint: address plus port (0 when none).
 *
 * @example
 * ```ts
 * roleKey({ address: "10.1.3.1" }); // "10.1.3.1|0"
 * ```
 */
export function roleKey(ep: { address: string; port?: number }): string {
  return `${ep.address}|${ep.port ?? 0}`;
}

/**
 * The pin name of the struct_ops link of scheduler `kernelName`.
 *
 * @example
 * ```ts
 * linkPinName("sf_round_robin"); // "link_sf_round_robin"
 * ```
 */
export function linkPinName(kernelName: string): string {
  return `link_${kernelName}`;
}
