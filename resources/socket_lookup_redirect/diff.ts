/**
 * The pure diff for SocketLookupRedirect: link, program, destinations and
 * bindings, each change with a reason and whether it is hitless.
 *
 * @module
 */
import type { Change, Observed } from "../../engine/types.ts";
import { bindingEdits, describeKey, type Entry, entryValue, MAX_ENTRIES } from "./entries.ts";
import { recordedLabels, type SlrMetaExtra, socketOps, stableIds } from "./ids.ts";

/** The desired kernel state, as the driver resolves it from the spec. */
export interface SlrDesired {
  /** The target netns path. */
  netns: string;
  /** The target netns's inode, as the link reports it. */
  netnsIno: number;
  /** sha256 of the BPF object to run. */
  objectHash: string;
  /** The LPM trie entries the bindings expand to. */
  entries: Entry[];
  /**
   * label → id and the resolved socket's cookie (decimal string). `inPlace`:
   * no fresh id was left, so the socket is replaced under the label's old id.
   */
  destinations: { label: string; id: number; cookie: string; source: string; inPlace?: boolean }[];
}

/** What the driver reads back from the kernel. Plain JSON. */
export interface SlrState {
  /** The pinned link: whether it exists, is attached, where, and its program's tag. */
  link: { pinned: boolean; attached: boolean; netnsIno: number; progTag: string | null };
  /** The pinned program's tag; null when it is missing. */
  progTag: string | null;
  /** key hex → destination id. */
  entries: Record<string, number>;
  /** destination id → socket cookie. */
  destinations: Record<string, string>;
}

function linkChanges(state: SlrState, desired: SlrDesired): Change[] {
  const where = `netns ${desired.netns} (inode ${desired.netnsIno})`;
  if (!state.link.pinned || !state.link.attached) {
    const before = state.link.pinned ? "detached" : "missing";
    return [{
      path: "link",
      before,
      after: `attached to ${where}`,
      reason: `sk_lookup link ${before}: traffic is not being steered`,
      hitless: true,
    }];
  }
  if (state.link.netnsIno !== desired.netnsIno) {
    return [{
      path: "netns",
      before: `inode ${state.link.netnsIno}`,
      after: where,
      reason: "the target netns changed: a new link is attached before the old one goes",
      hitless: false,
      forcesReplace: true,
    }];
  }
  return [];
}

function programChanges(observed: Observed<SlrState, SlrMetaExtra>, desired: SlrDesired): Change[] {
  const old = observed.meta?.objectHash ?? "";
  if (old !== desired.objectHash) {
    return [{
      path: "program",
      before: old.slice(0, 12),
      after: desired.objectHash.slice(0, 12),
      reason: "new program version, swapped atomically with bpf_link__update_program",
      hitless: true,
    }];
  }
  const s = observed.state;
  if (s.link.attached && s.link.progTag !== s.progTag) {
    return [{
      path: "program",
      before: `tag ${s.link.progTag}`,
      after: `tag ${s.progTag}`,
      reason: "the link runs a program sockform did not put there",
      hitless: true,
    }];
  }
  return [];
}

/** Why a label's socket goes in: what the kernel holds under the label's recorded id. */
function whyNewSocket(state: SlrState, labels: Record<string, string>, label: string): string {
  const old = Object.keys(labels).find((id) => labels[id] === label);
  if (old === undefined) return "new destination";
  return state.destinations[old] === undefined
    ? "socket not in the SOCKHASH (the old one closed)"
    : `a different socket than the one under id ${old}`;
}

function destinationChange(
  state: SlrState,
  labels: Record<string, string>,
  d: SlrDesired["destinations"][number],
): Change {
  const have = state.destinations[String(d.id)];
  const after = `${d.source} (socket cookie ${d.cookie}, id ${d.id})`;
  if (d.inPlace) {
    return {
      path: `destinations.${d.label}`,
      before: have === undefined ? undefined : `socket cookie ${have}`,
      after,
      reason: `every destination id is taken: the socket is replaced under id ${d.id} in place, ` +
        "so bindings leaving it may reach the new socket for a moment, and a rollback leaves " +
        "the id empty",
      hitless: false,
    };
  }
  return {
    path: `destinations.${d.label}`,
    after,
    reason: `${whyNewSocket(state, labels, d.label)}: it goes in under fresh id ${d.id} ` +
      "before any binding points to it",
    hitless: true,
  };
}

function destinationChanges(
  observed: Observed<SlrState, SlrMetaExtra>,
  desired: SlrDesired,
): Change[] {
  const { state } = observed;
  const labels = recordedLabels(observed);
  const out: Change[] = [];
  const { put, unused } = socketOps(state, desired);
  for (const d of desired.destinations) {
    if (put.includes(d)) {
      out.push(destinationChange(state, labels, d));
    } else if (labels[String(d.id)] !== undefined && labels[String(d.id)] !== d.label) {
      out.push({
        path: `destinations.${d.label}`,
        before: `${labels[String(d.id)]} (id ${d.id})`,
        after: `${d.label} (id ${d.id})`,
        reason: "renamed: the same socket keeps its id; only the metadata changes",
        hitless: true,
      });
    }
  }
  for (const id of unused) {
    const cookie = state.destinations[id];
    const label = labels[id] === undefined ? "" : `${labels[id]}, `;
    out.push({
      path: `destinations[id ${id}]`,
      before: `${label}socket cookie ${cookie}`,
      reason: "no longer used: removed after every binding has left it",
      hitless: true,
    });
  }
  return out;
}

function bindingChanges(state: SlrState, desired: SlrDesired): Change[] {
  const out: Change[] = [];
  const byBinding = new Map<number, Entry[]>();
  for (const e of desired.entries) {
    const group = byBinding.get(e.binding);
    if (group) group.push(e);
    else byBinding.set(e.binding, [e]);
  }
  const labelOf = new Map(desired.destinations.map((d) => [d.id, d.label]));
  for (const [index, entries] of byBinding) {
    const wrong = entries.filter((e) => state.entries[e.key] !== entryValue(e));
    if (!wrong.length) continue;
    const missing = wrong.filter((e) => state.entries[e.key] === undefined).length;
    const what = `${describeKey(entries[0].key)}${
      entries.length > 1 ? ` (+${entries.length - 1} ports)` : ""
    } → ${labelOf.get(entries[0].destId)}${entries[0].fallthrough ? " (or fall through)" : ""}`;
    out.push({
      path: `bindings[${index}]`,
      before: missing === wrong.length
        ? undefined
        : `${wrong.length - missing} entr(ies) point elsewhere`,
      after: what,
      reason: missing
        ? `${missing} of ${entries.length} map entr(ies) missing`
        : "map entries point to another destination",
      hitless: true,
    });
  }
  const declared = new Set(desired.entries.map((e) => e.key));
  const extra = Object.keys(state.entries).filter((k) => !declared.has(k));
  if (extra.length) out.push(removalChange(state, desired, extra));
  return out;
}

/** The undeclared entries' removal: hitless, unless the adds only fit once some are gone. */
function removalChange(state: SlrState, desired: SlrDesired, extra: string[]): Change {
  const sample = extra.slice(0, 3).map(describeKey).join(", ");
  const before = `${sample}${extra.length > 3 ? ` and ${extra.length - 3} more` : ""}`;
  const want = new Map(desired.entries.map((e) => [e.key, entryValue(e)]));
  const { removeFirst, upsert } = bindingEdits(state.entries, want);
  if (!removeFirst.length) {
    return {
      path: "bindings",
      before,
      reason: `${extra.length} map entr(ies) not declared (removed least specific last)`,
      hitless: true,
    };
  }
  const adds = upsert.filter((k) => state.entries[k] === undefined).length;
  return {
    path: "bindings",
    before,
    reason: `${extra.length} map entr(ies) not declared; the map holds ${MAX_ENTRIES} and ` +
      `${Object.keys(state.entries).length} + ${adds} added do not fit, so ` +
      `${removeFirst.length} are removed before the adds: until then their connections ` +
      `may reach a broader binding or none`,
    hitless: false,
  };
}

/**
 * Everything that differs between the kernel and the stack.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { SlrDesired } from "../../mod.ts";
 *
 * function createChanges(desired: SlrDesired) {
 *   return diffSocketLookupRedirect(null, desired); // a create: every binding listed
 * }
 * ```
 */
export function diffSocketLookupRedirect(
  observed: Observed<SlrState, SlrMetaExtra> | null,
  resolved: SlrDesired,
): Change[] {
  if (!observed?.state) {
    const none: Observed<SlrState, SlrMetaExtra> = { meta: null, state: EMPTY };
    const created = [
      ...destinationChanges(none, resolved),
      ...bindingChanges(EMPTY, resolved),
    ];
    return created.map((c) => ({ ...c, reason: "new: created with the resource" }));
  }
  const desired = stableIds(observed, resolved);
  return [
    ...linkChanges(observed.state, desired),
    ...programChanges(observed, desired),
    ...destinationChanges(observed, desired),
    ...bindingChanges(observed.state, desired),
  ];
}

const EMPTY: SlrState = {
  link: { pinned: false, attached: false, netnsIno: 0, progTag: null },
  progTag: null,
  entries: {},
  destinations: {},
};
