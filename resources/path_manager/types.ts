/**
 * The PathManager's resolved desired state, what the driver reads back from
 * the kernel, and the memory it keeps in its metadata pin. All plain JSON.
 *
 * @module
 */
import type { AgentIdentity, AgentLaunch } from "../../providers/mptcp_agent/identity.ts";

/** The in-kernel path manager's per-netns limits. */
export interface PmLimits {
  /** Most additional subflows per connection. */
  subflows: number;
  /** Most ADD_ADDR announcements accepted per connection. */
  addAddrAccepted: number;
}

/** A limit's name. */
export type LimitKey = keyof PmLimits;

/** An endpoint as the kernel holds it. */
export interface PmEndpoint {
  /** The endpoint id the kernel assigned. */
  id: number;
  /** Its IP address. */
  address: string;
  /** Its port, for `signal` endpoints that announce one. */
  port?: number;
  /** Flag names in bit order; unknown bits as hex (`0x40`). */
  flags: string[];
  /** The interface it is bound to. */
  ifindex?: number;
  /** The interface name of `ifindex`, when the netns still has it (for people). */
  dev?: string;
}

/** An endpoint the stack wants, resolved against the netns's interfaces. */
export interface DesiredEndpoint {
  /** Its IP address. */
  address: string;
  /** Its port, for `signal` endpoints that announce one. */
  port?: number;
  /** Flag names. */
  flags: string[];
  /** A fixed endpoint id, when the spec gives one. */
  id?: number;
  /** The interface it is bound to. */
  ifindex?: number;
  /** That interface's name. */
  dev?: string;
  /** Where it comes from in the spec: `endpoints[1]` or `fromInterfaces.veth-b[10.1.3.1]`. */
  path: string;
}

/** What the driver resolves a spec to. */
export interface PmDesired {
  /** The netns path; null means the caller's netns. */
  netns: string | null;
  /** The netns's inode. */
  netnsIno: number;
  /** The endpoints the netns should hold. */
  endpoints: DesiredEndpoint[];
  /** The limits the spec sets (others are left as they are). */
  limits: Partial<PmLimits>;
  /** Sysctl name → value text, including the path-manager mode knob. */
  sysctls: Record<string, string>;
  /** True when endpoints the stack does not declare are removed. */
  exclusive: boolean;
  /** sha256 of the normalised spec. */
  specHash: string;
  /** The policy agent the netns needs (userspace mode with a policy), or null. */
  agent: PmAgentDesired | null;
}

/** The agent a spec wants: its launch (without the status file, which the driver places) and hash. */
export interface PmAgentDesired {
  /** How the agent is started: its kind, resource and params. */
  launch: Omit<AgentLaunch, "statusFile">;
  /** `launchHash` of `launch`: what a running agent must report. */
  hash: string;
  /** The agent version this sockform runs (`AGENT_VERSION`). */
  version: string;
  /** How the policy reads in plans: `ndiffports(3)`, `fullmesh`, `module /srv/p.ts`. */
  label: string;
  /** Which policy, without its params (`builtin:ndiffports`, `module:/srv/p.ts`): params alone reload. */
  policyKey: string;
  /** The spec field a start failure is reported under; absent: `policy` (`policy.module` for a module). */
  startField?: string;
}

/**
 * The agent as `observe` reads it from \`/proc\` and its status file. Only
 * stable facts, since the state goes into staleness tokens: no heartbeat age,
 * no counters (those are in `show`).
 */
export interface PmAgentState {
  /** The agent's pid. */
  pid: number;
  /** `running`, or why not: `dead`, `failed` (it reported an error) or `stuck` (no heartbeat). */
  health: "running" | "dead" | "failed" | "stuck";
  /** Why it is not running (pid gone, the error it reported, no heartbeat). */
  reason?: string;
  /** The agent version it runs. */
  version: string;
  /** `launchHash` of the launch it runs. */
  paramsHash: string;
  /** The `policyKey` it was started with (from the metadata). */
  policyKey?: string;
}

/** What the driver reads back. `netnsIno` is null when the netns is gone. */
export interface PmState {
  /** The netns path, null when it is gone. */
  netns: string | null;
  /** The netns's inode. */
  netnsIno: number | null;
  /** The MPTCP endpoints the kernel holds. */
  endpoints: PmEndpoint[];
  /** The MPTCP limits; null when they could not be read. */
  limits: PmLimits | null;
  /** Every `net.mptcp.*` sysctl sockform manages that this kernel has. */
  sysctls: Record<string, string>;
  /** The resource's policy agent, when one was started (absent in a create's baseline). */
  agent?: PmAgentState | null;
}

/** The netns as it was before the stack took ownership, restored on destroy. */
export interface PmOriginal {
  /** The endpoints the netns had. */
  endpoints: PmEndpoint[];
  /** Its limits. */
  limits: PmLimits;
  /** Its `net.mptcp.*` sysctls, the path-manager mode among them. */
  sysctls: Record<string, string>;
}

/** `ResourceMeta.extra` of a PathManager. */
export interface PmMemory {
  /** The netns path the last apply managed; null: the caller's netns. */
  netns: string | null;
  /** That netns's inode then, so a netns re-created under the same path is noticed. */
  netnsIno: number;
  /** The netns as it was before the first apply, given back on destroy. */
  original: PmOriginal;
  /** Keys (`address|port`) of the endpoints the last apply declared. */
  owned: string[];
  /** Which limits and sysctls the last apply set (the rest were left alone). */
  managed: { limits: LimitKey[]; sysctls: string[] };
  /** Whether the last apply owned every endpoint of the netns (others' were removed). */
  exclusive: boolean;
  /**
   * The policy agent the last apply started. Optional, so records written
   * before programmable path managers read unchanged (no schema bump).
   */
  agent?: AgentIdentity;
  /** The `policyKey` of `agent`'s policy: a change of params alone is a reload. */
  agentPolicy?: string;
}

/**
 * The identity of an endpoint in the kernel: address plus port (0 when none).
 *
 * @example Matching a declared endpoint to the kernel's
 * ```ts
 * endpointKey({ address: "10.1.3.1", port: 8443 }); // "10.1.3.1|8443"
 * ```
 */
export function endpointKey(ep: { address: string; port?: number }): string {
  return `${ep.address}|${ep.port ?? 0}`;
}

/**
 * One endpoint as a short line for plans.
 *
 * @example A subflow endpoint bound to a device
 * ```ts
 * describeEndpoint({ address: "10.1.3.1", flags: ["subflow"], dev: "veth-b" });
 * // "10.1.3.1 subflow dev veth-b"
 * ```
 */
export function describeEndpoint(
  ep: { address: string; port?: number; flags: readonly string[]; dev?: string; id?: number },
): string {
  const parts = [ep.address];
  if (ep.port) parts.push(`port ${ep.port}`);
  parts.push(ep.flags.length ? ep.flags.join(",") : "(no flags)");
  if (ep.dev) parts.push(`dev ${ep.dev}`);
  if (ep.id !== undefined) parts.push(`id ${ep.id}`);
  return parts.join(" ");
}

/**
 * Reads the `extra` any sockform wrote (schema 0 and 1 share this layout);
 * null when it is not a PathManager's memory.
 *
 * @example
 * ```ts
 * upgradePmExtra({ netns: null }, 0); // null: no original netns recorded
 * ```
 */
export function upgradePmExtra(extra: unknown, _schema: number): PmMemory | null {
  const m = extra as Partial<PmMemory> | undefined;
  if (!m || !m.original || !Array.isArray(m.owned) || !m.managed) return null;
  return m as PmMemory;
}
