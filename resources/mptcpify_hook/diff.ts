/**
 * The pure diff for MptcpifyHook: link, program, config and scope maps, each
 * change with a reason. Scope and family changes are map edits on the running
 * program (no reload, no new link).
 *
 * @module
 */
import type { Change, Observed } from "../../engine/types.ts";
import { field, stringRecord } from "../../engine/meta.ts";
import {
  BITS,
  familyNames,
  type MptcpifyConfig,
  type MptcpifyDesired,
  type MptcpifyEntries,
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

function programChanges(observed: Observed<MptcpifyState>, desired: MptcpifyDesired): Change[] {
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

function entryChanges(
  map: MapName,
  have: Record<string, number>,
  want: Record<string, number>,
  paths: Record<string, string>,
): Change[] {
  const out: Change[] = [];
  for (const [key, bits] of Object.entries(want)) {
    if (have[key] === bits) continue;
    out.push({
      path: `${where(bits)}.${FIELD[map]}[${label(map, key, paths)}]`,
      before: have[key] === undefined ? undefined : where(have[key]),
      after: where(bits),
      reason: have[key] === undefined
        ? `not in the ${map} map (a map edit)`
        : `moves between scope and exclude (a map edit)`,
      hitless: true,
    });
  }
  for (const [key, bits] of Object.entries(have)) {
    if (key in want) continue;
    out.push({
      path: `${where(bits)}.${FIELD[map]}[${label(map, key, paths)}]`,
      before: where(bits),
      reason: `no longer declared (removed from the ${map} map)`,
      hitless: true,
    });
  }
  return out;
}

const EMPTY: MptcpifyState = {
  link: { pinned: false, id: 0, progId: 0, progTag: null },
  config: null,
  entries: { cgroups: {}, comms: {}, uids: {} },
};

/**
 * Everything that differs between the kernel and the stack.
 *
 * @example A create lists the scope it will install
 * ```ts
 * const changes = diffMptcpifyHook(null, desired);
 * ```
 */
export function diffMptcpifyHook(
  observed: Observed<MptcpifyState> | null,
  desired: MptcpifyDesired,
): Change[] {
  const state = observed?.state ?? EMPTY;
  const known = stringRecord(field(observed?.meta?.extra, "cgroupPaths"));
  const paths = { ...known, ...desired.cgroupPaths };
  const entries = (["cgroups", "comms", "uids"] as const).flatMap((m) =>
    entryChanges(m, state.entries[m], desired.entries[m], paths)
  );
  if (!observed) {
    const after = describeConfig(desired.config);
    const config: Change[] = [
      { path: "families", after: after.families, reason: "", hitless: true },
      { path: "scope", after: after.scope, reason: "", hitless: true },
    ];
    return [...config, ...entries].map((c) => ({ ...c, reason: "new: created with the resource" }));
  }
  return [
    ...linkChanges(state),
    ...programChanges(observed, desired),
    ...configChanges(state, desired),
    ...entries,
  ];
}
