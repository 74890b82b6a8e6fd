/**
 * The pure diff for MptcpifyHook: link, program, config and scope maps, each
 * change with a reason. Scope and family changes are map edits on the running
 * program (no reload, no new link).
 *
 * @module
 */
import type { Change, Observed } from "../../engine/types.ts";
import {
  BITS,
  familyNames,
  type MptcpifyConfig,
  type MptcpifyDesired,
  type MptcpifyEntries,
  type MptcpifyMetaExtra,
  type MptcpifyState,
} from "./desired.ts";

type MapName = keyof MptcpifyEntries;

/** The spec field each map holds. */
const FIELD: Record<MapName, string> = { cgroups: "cgroups", comms: "commands", uids: "uids" };

function linkChanges(state: MptcpifyState): Change[] {
  if (state.link.pinned) return [];
  return [{
    path: "link",
    before: "missing",
    after: "fmod_ret link on update_socket_protocol",
    reason: "the link pin is gone, so the hook is detached: new sockets stay TCP",
    hitless: true,
  }];
}

function programChanges(
  observed: Observed<MptcpifyState, MptcpifyMetaExtra>,
  desired: MptcpifyDesired,
): Change[] {
  const old = observed.meta?.objectHash ?? "";
  if (old === desired.objectHash || !observed.state.link.pinned) return [];
  return [{
    path: "program",
    before: old.slice(0, 12),
    after: desired.objectHash.slice(0, 12),
    reason: "new program version: a new link is attached before the old one is released",
    hitless: true,
  }];
}

function describeConfig(c: MptcpifyConfig | null) {
  if (!c) return { families: undefined, scope: undefined };
  return {
    families: familyNames(c.families).join(", "),
    scope: c.matchAll ? "every TCP socket" : "listed cgroups, commands and uids",
  };
}

function lostConfig(want: MptcpifyConfig): Change {
  return {
    path: "config",
    before: "missing",
    after: describeConfig(want),
    reason: "the config map pin is gone: the resource must be replaced",
    hitless: false,
    forcesReplace: true,
  };
}

function configChanges(state: MptcpifyState, desired: MptcpifyDesired): Change[] {
  const have = state.config;
  const want = desired.config;
  if (!have) return [lostConfig(want)];
  const out: Change[] = [];
  const before = describeConfig(have);
  const after = describeConfig(want);
  if (have.families !== want.families) {
    out.push({
      path: "families",
      before: before.families,
      after: after.families,
      reason: "families to convert changed (a config map edit)",
      hitless: true,
    });
  }
  if (have.matchAll !== want.matchAll) {
    out.push({
      path: "scope",
      before: before.scope,
      after: after.scope,
      reason: "the scope changed between everything and a list (a config map edit)",
      hitless: true,
    });
  }
  if (have.walkCgroups !== want.walkCgroups && out.length === 0) {
    out.push({
      path: "config",
      before: `walk cgroups ${have.walkCgroups}`,
      after: `walk cgroups ${want.walkCgroups}`,
      reason: "the config map disagrees with the listed cgroups",
      hitless: true,
    });
  }
  return out;
}

function where(bits: number): string {
  if (bits & BITS.exclude) return "exclude";
  return "scope";
}

function label(map: MapName, key: string, paths: Record<string, string>): string {
  if (map === "cgroups") return paths[key] ?? `cgroup id ${key}`;
  return map === "uids" ? key : JSON.stringify(key);
}

/**
 * One scope map edit: put `bits` under `key` (over `old`, when there was an
 * entry), or remove the entry (`bits` null; `old` is what goes).
 *
 * @example curl leaves the scope
 * ```ts
 * import { BITS } from "./desired.ts";
 *
 * const edit: EntryEdit = { map: "comms", key: "curl", bits: null, old: BITS.scope };
 * ```
 */
export type EntryEdit =
  | { map: MapName; key: string; bits: number; old?: number }
  | { map: MapName; key: string; bits: null; old: number };

/**
 * The scope map edits that turn `have` into `want`, map by map: puts (new
 * or changed entries), then removals. Apply orders them (see syncEntries).
 *
 * @example A rescope from curl to iperf3
 * ```ts
 * const none = { cgroups: {}, comms: {}, uids: {} };
 * entryEdits({ ...none, comms: { curl: 1 } }, { ...none, comms: { iperf3: 1 } });
 * // [{ map: "comms", key: "iperf3", bits: 1 }, { map: "comms", key: "curl", bits: null, old: 1 }]
 * ```
 */
export function entryEdits(have: MptcpifyEntries, want: MptcpifyEntries): EntryEdit[] {
  return (["cgroups", "comms", "uids"] as const).flatMap((map) => [
    ...Object.entries(want[map]).filter(([key, bits]) => have[map][key] !== bits)
      .map(([key, bits]): EntryEdit =>
        key in have[map] ? { map, key, bits, old: have[map][key] } : { map, key, bits }
      ),
    ...Object.entries(have[map]).filter(([key]) => !(key in want[map]))
      .map(([key, old]): EntryEdit => ({ map, key, bits: null, old })),
  ]);
}

function entryChange(edit: EntryEdit, paths: Record<string, string>): Change {
  const { map, key, bits, old } = edit;
  const at = `${FIELD[map]}[${label(map, key, paths)}]`;
  if (bits === null) {
    return {
      path: `${where(old)}.${at}`,
      before: where(old),
      reason: `no longer declared (removed from the ${map} map)`,
      hitless: true,
    };
  }
  return {
    path: `${where(bits)}.${at}`,
    before: old === undefined ? undefined : where(old),
    after: where(bits),
    reason: old === undefined
      ? `not in the ${map} map (a map edit)`
      : `moves between scope and exclude (a map edit)`,
    hitless: true,
  };
}

/**
 * The operation that carries out a change: build the whole resource (create
 * or replace), attach a new link before the old one goes (its pin is gone),
 * load a new build on the pinned maps behind a new link, write the config
 * entry, or edit one scope map entry.
 */
export type MhOp =
  | { op: "build" }
  | { op: "attach-link" }
  | { op: "load-program" }
  | { op: "write-config" }
  | { op: "edit-entry"; edit: EntryEdit };

/** One change and the operation that carries it out. */
export interface MhAction {
  change: Change;
  op: MhOp;
}

const as = (op: MhOp) => (change: Change): MhAction => ({ change, op });

const EMPTY: MptcpifyState = {
  link: { pinned: false, id: 0, progId: 0, progTag: null },
  config: null,
  entries: { cgroups: {}, comms: {}, uids: {} },
};

/**
 * The actions that turn the kernel's MptcpifyHook into the desired one: what
 * the plan shows (`change`) paired with what apply does (`op`).
 *
 * @example A rescope is map edits only
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { MptcpifyDesired, MptcpifyMetaExtra, MptcpifyState, Observed } from "../../mod.ts";
 *
 * function ops(observed: Observed<MptcpifyState, MptcpifyMetaExtra>, desired: MptcpifyDesired) {
 *   return mptcpifyActions(observed, desired).map((a) => a.op.op); // ["edit-entry", "edit-entry"]
 * }
 * ```
 */
export function mptcpifyActions(
  observed: Observed<MptcpifyState, MptcpifyMetaExtra> | null,
  desired: MptcpifyDesired,
): MhAction[] {
  const state = observed?.state ?? EMPTY;
  const known = observed?.meta?.extra.cgroupPaths ?? {};
  const paths = { ...known, ...desired.cgroupPaths };
  const entries = entryEdits(state.entries, desired.entries).map((edit) => ({
    change: entryChange(edit, paths),
    op: { op: "edit-entry", edit } as const,
  }));
  if (!observed) {
    const after = describeConfig(desired.config);
    const config: Change[] = [
      { path: "families", after: after.families, reason: "", hitless: true },
      { path: "scope", after: after.scope, reason: "", hitless: true },
    ];
    return [...config, ...entries.map((a) => a.change)]
      .map((c) => ({ ...c, reason: "new: created with the resource" }))
      .map(as({ op: "build" }));
  }
  return [
    ...linkChanges(state).map(as({ op: "attach-link" })),
    ...programChanges(observed, desired).map(as({ op: "load-program" })),
    ...configChanges(state, desired).map((c) =>
      as(c.forcesReplace ? { op: "build" } : { op: "write-config" })(c)
    ),
    ...entries,
  ];
}

/**
 * Everything that differs between the kernel and the stack.
 *
 * @example A create lists the scope it will install
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { MptcpifyDesired } from "../../mod.ts";
 *
 * function createChanges(desired: MptcpifyDesired) {
 *   return diffMptcpifyHook(null, desired);
 * }
 * ```
 */
export function diffMptcpifyHook(
  observed: Observed<MptcpifyState, MptcpifyMetaExtra> | null,
  desired: MptcpifyDesired,
): Change[] {
  return mptcpifyActions(observed, desired).map((a) => a.change);
}
