/**
 * Stable destination ids. A binding's map value is a destination id, and the
 * SOCKHASH maps an id to a socket, so an id must mean one socket for as long
 * as any binding may point at it: renumbering ids in place (the sorted label
 * order did) sends connections to the wrong listener mid-update, and for good
 * after a kill.
 *
 * The rule: an id is tied to (label, socket). A label keeps its id while its
 * socket stays; a destination that is new, or whose socket changed, gets a
 * fresh id that no binding, socket or metadata in the kernel refers to. Apply
 * then fills the fresh ids first, moves bindings entry by entry (each lookup
 * sees the old or the new destination), and deletes the old ids last. A kill
 * at any point leaves ids that still mean what they meant; the next plan
 * reads them back from the kernel (the SOCKHASH's cookies and the metadata).
 *
 * @module
 */
import type { Observed } from "../../engine/types.ts";
import { field, stringRecord } from "../../engine/meta.ts";
import type { SlrDesired, SlrState } from "./diff.ts";
import { MAX_DESTINATIONS } from "./entries.ts";

type Dest = SlrDesired["destinations"][number];

/** `ResourceMeta.extra` of a SocketLookupRedirect: id → label, and the netns. */
export type SlrMetaExtra = { labels: Record<string, string>; netns: string | null };

/**
 * Reads the `extra` any sockform wrote (schema 0 and 1 share this layout);
 * labels that are not strings are left out.
 *
 * @example
 * ```ts
 * upgradeSlrExtra({ labels: { "1": "nginx" }, netns: "/run/netns/lab" }, 0).labels["1"]; // "nginx"
 * ```
 */
export function upgradeSlrExtra(extra: unknown, _schema: number): SlrMetaExtra {
  const netns = field(extra, "netns");
  return {
    labels: stringRecord(field(extra, "labels")),
    netns: typeof netns === "string" ? netns : null,
  };
}

/**
 * id → label, as the metadata of the last completed apply recorded it.
 *
 * @example Naming the counters of id 1
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Observed, SlrMetaExtra, SlrState } from "../../mod.ts";
 *
 * function labelOf1(observed: Observed<SlrState, SlrMetaExtra> | null): string | undefined {
 *   return recordedLabels(observed)["1"]; // e.g. "nginx"
 * }
 * ```
 */
export function recordedLabels(
  observed: Observed<SlrState, SlrMetaExtra> | null,
): Record<string, string> {
  return observed?.meta?.extra.labels ?? {};
}

/** Every id the kernel refers to: recorded labels, sockets and binding values. */
function idsInUse(
  observed: Observed<SlrState, SlrMetaExtra>,
  labels: Record<string, string>,
): Set<number> {
  const used = new Set<number>();
  for (const id of Object.keys(labels)) used.add(Number(id));
  for (const id of Object.keys(observed.state.destinations)) used.add(Number(id));
  for (const v of Object.values(observed.state.entries)) used.add(v & ID_MASK);
  return used;
}

/** Bits of a binding value that hold the destination id (the rest are flags). */
export const ID_MASK = 0xffff;

/** Which id each destination gets, by the rule in the module doc. */
function assign(observed: Observed<SlrState, SlrMetaExtra>, dests: Dest[]): Map<string, Dest> {
  const labels = recordedLabels(observed);
  const live = observed.state.destinations;
  const claimed = new Set<number>();
  const out = new Map<string, Dest>();
  const claim = (d: Dest, id: number, inPlace = false) => {
    claimed.add(id);
    out.set(d.label, inPlace ? { ...d, id, inPlace } : { ...d, id });
  };
  // Kept: same label, same socket. Then adopted: the same socket under an id
  // whose label went (a rename, or a kill before the metadata was written).
  for (const d of dests) {
    const id = Object.keys(labels).find((i) => labels[i] === d.label && live[i] === d.cookie);
    if (id !== undefined && !claimed.has(Number(id))) claim(d, Number(id));
  }
  for (const d of dests.filter((x) => !out.has(x.label))) {
    const id = Object.keys(live).find((i) => live[i] === d.cookie && !claimed.has(Number(i)));
    if (id !== undefined) claim(d, Number(id));
  }
  const used = idsInUse(observed, labels);
  let next = 0;
  for (const d of dests.filter((x) => !out.has(x.label))) {
    while (next < MAX_DESTINATIONS && (used.has(next) || claimed.has(next))) next++;
    if (next < MAX_DESTINATIONS) claim(d, next);
    else claim(d, lowestUnclaimed(claimed), true); // no fresh id left: replaced in place
  }
  return out;
}

function lowestUnclaimed(claimed: Set<number>): number {
  let id = 0;
  while (claimed.has(id)) id++;
  return id;
}

/**
 * The desired state with stable ids: `desired` as resolved (ids in sorted
 * label order, right for a create) renumbered against what the kernel holds.
 *
 * @example Plan and apply renumber alike
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Observed, SlrDesired, SlrMetaExtra, SlrState } from "../../mod.ts";
 *
 * function renumber(observed: Observed<SlrState, SlrMetaExtra> | null, desired: SlrDesired) {
 *   return stableIds(observed, desired); // what plan diffs against and apply writes
 * }
 * ```
 */
export function stableIds(
  observed: Observed<SlrState, SlrMetaExtra> | null,
  desired: SlrDesired,
): SlrDesired {
  if (!observed?.state) return desired;
  const byLabel = assign(observed, desired.destinations);
  const labelOfOld = new Map(desired.destinations.map((d) => [d.id, d.label]));
  const remap = new Map(desired.destinations.map((d) => [d.id, byLabel.get(d.label)!.id]));
  return {
    ...desired,
    destinations: desired.destinations.map((d) => byLabel.get(d.label)!),
    entries: desired.entries.map((e) =>
      labelOfOld.has(e.destId) ? { ...e, destId: remap.get(e.destId)! } : e
    ),
  };
}

/**
 * The SOCKHASH operations that bring the kernel's destinations to `desired`
 * (after `stableIds`): the sockets to put (their id holds another socket or
 * none) and the ids no destination uses any more. The plan's destination
 * changes and apply's socket edits both come from here.
 *
 * @example A new destination and a retired one
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { SlrDesired, SlrState } from "../../mod.ts";
 *
 * function edits(state: SlrState, desired: SlrDesired): void {
 *   const { put, unused } = socketOps(state, desired);
 *   console.log(put.length, unused); // sockets to insert, destination ids to retire
 * }
 * ```
 */
export function socketOps(state: SlrState, desired: SlrDesired): { put: Dest[]; unused: string[] } {
  const wanted = new Set(desired.destinations.map((d) => String(d.id)));
  return {
    put: desired.destinations.filter((d) => state.destinations[String(d.id)] !== d.cookie),
    unused: Object.keys(state.destinations).filter((id) => !wanted.has(id)),
  };
}
