/**
 * The MptcpifyHook kernel state in plain JSON: the config word and the three
 * scope maps (cgroup id, task comm, uid → SCOPE/EXCLUDE bits), computed from
 * a spec plus the cgroup ids the driver looked up.
 *
 * @module
 */
import type { MptcpifyHookSpec, Selector } from "./schema.ts";
import { field, stringRecord } from "../../engine/meta.ts";

/** `ResourceMeta.extra` of an MptcpifyHook: cgroup id → the path it was resolved from. */
export type MptcpifyMetaExtra = { cgroupPaths: Record<string, string> };

/**
 * Reads the `extra` any sockform wrote (schema 0 and 1 share this layout).
 *
 * @example
 * ```ts
 * upgradeMptcpifyExtra({ cgroupPaths: { "77": "/sys/fs/cgroup/unified/x" } }, 0).cgroupPaths["77"];
 * ```
 */
export function upgradeMptcpifyExtra(extra: unknown, _schema: number): MptcpifyMetaExtra {
  return { cgroupPaths: stringRecord(field(extra, "cgroupPaths")) };
}

/** Map value bits (bpf/include/mptcpify.h). */
export const BITS = { scope: 1, exclude: 2 } as const;
/** `mptcpify_config.families` bits. */
export const FAMILY_BITS = { ipv4: 1, ipv6: 2 } as const;

/** The `config` map's one entry. */
export interface MptcpifyConfig {
  /** FAMILY_BITS of the families to convert. */
  families: number;
  /** An empty scope: every TCP socket that is not excluded. */
  matchAll: boolean;
  /** Some cgroup is listed, so the hook looks up the task's cgroup and ancestors. */
  walkCgroups: boolean;
}

/** The three scope maps, keyed as plain strings: cgroup id and uid in decimal, comm as is. */
export interface MptcpifyEntries {
  /** cgroup id → selector bits. */
  cgroups: Record<string, number>;
  /** comm → selector bits. */
  comms: Record<string, number>;
  /** uid → selector bits. */
  uids: Record<string, number>;
}

/** What the driver resolves a spec to. */
export interface MptcpifyDesired {
  /** sha256 of the BPF object to run. */
  objectHash: string;
  /** The config map's value. */
  config: MptcpifyConfig;
  /** The selector maps' entries. */
  entries: MptcpifyEntries;
  /** cgroup id (decimal) → the path the spec named, for plans and `show`. */
  cgroupPaths: Record<string, string>;
}

/** What the driver reads back from the kernel. */
export interface MptcpifyState {
  /** The pinned link and its program. */
  link: {
    pinned: boolean;
    /** Kernel link id (0 when missing): unchanged by scope edits. */
    id: number;
    progId: number;
    progTag: string | null;
  };
  /** null when the config pin is missing or unreadable. */
  config: MptcpifyConfig | null;
  /** The selector maps' entries, as read back. */
  entries: MptcpifyEntries;
}

function selectorEmpty(s: Selector): boolean {
  return s.cgroups.length === 0 && s.commands.length === 0 && s.uids.length === 0;
}

function put(map: Record<string, number>, key: string, bit: number) {
  map[key] = (map[key] ?? 0) | bit;
}

/**
 * The config and map entries a spec asks for. `cgroupIds` maps each cgroup
 * path of the spec to its id (decimal); a cgroup listed under two paths ORs
 * the bits, and EXCLUDE wins in the program.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { MptcpifyHookSpec } from "../../mod.ts";
 *
 * function state(spec: MptcpifyHookSpec) {
 *   const { config, entries } = desiredState(spec, { "/sys/fs/cgroup/unified/legacy": "4242" });
 *   return { config, entries };
 * }
 * ```
 */
export function desiredState(
  spec: MptcpifyHookSpec,
  cgroupIds: Record<string, string>,
): { config: MptcpifyConfig; entries: MptcpifyEntries } {
  const entries: MptcpifyEntries = { cgroups: {}, comms: {}, uids: {} };
  for (const [selector, bit] of [[spec.scope, BITS.scope], [spec.exclude, BITS.exclude]] as const) {
    for (const path of selector.cgroups) put(entries.cgroups, cgroupIds[path], bit);
    for (const comm of selector.commands) put(entries.comms, comm, bit);
    for (const uid of selector.uids) put(entries.uids, String(uid), bit);
  }
  const config: MptcpifyConfig = {
    families: spec.families.reduce((bits, f) => bits | FAMILY_BITS[f], 0),
    matchAll: selectorEmpty(spec.scope),
    walkCgroups: Object.keys(entries.cgroups).length > 0,
  };
  return { config, entries };
}

/**
 * The families a config converts, as spec words.
 *
 * @example
 * ```ts
 * familyNames(3); // ["ipv4", "ipv6"]
 * ```
 */
export function familyNames(bits: number): string[] {
  return (["ipv4", "ipv6"] as const).filter((f) => bits & FAMILY_BITS[f]);
}
