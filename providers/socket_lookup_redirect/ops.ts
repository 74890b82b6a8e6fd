/**
 * The SocketLookupRedirect apply operations, each registering its undo.
 *
 * @module
 */
import type {
  CreateRequest,
  DriverContext,
  Observed,
  ResourceRef,
  Transaction,
  UpdateRequest,
} from "../../engine/types.ts";
import type { SlrDesired, SlrState } from "../../resources/socket_lookup_redirect.ts";
import * as gen from "../../bpf/gen/sk_lookup.ts";
import { BpfLink } from "../libbpf/link.ts";
import { BpfMap } from "../libbpf/map.ts";
import { openPin, pinFd, unpin } from "../libbpf/pins.ts";
import { Held, replacePin } from "../bpf_kind/handles.ts";
import { loadObject, loadOnPinnedMaps, swapProgram } from "../bpf_kind/program.ts";
import { libc } from "../libc/ffi.ts";
import { openNetns } from "../system/netns.ts";
import { PIN, putSockets, syncBindings, u32 } from "./kernel.ts";
import { writeMetaStep } from "../state/meta.ts";
import { metaRecord } from "../../engine/meta.ts";
import { beginPinDir, openMapForApply, withPinnedMap } from "../state/pin_dir.ts";
import {
  type SlrMetaExtra,
  socketOps,
  stableIds,
} from "../../resources/socket_lookup_redirect/ids.ts";
import { entryValue } from "../../resources/socket_lookup_redirect/entries.ts";

/** The driver's desired state: the pure part plus how to take the sockets at apply time. */
export type SlrDriverDesired = SlrDesired & {
  specHash: string;
  /** Duplicates the labelled destinations' sockets (checked against the plan); caller closes. */
  takeSockets(labels: string[]): { label: string; fd: number }[];
};
type Desired = SlrDriverDesired;

/** Writes the metadata pin last, recording labels so `show` can name counters. */
function writeSlrMeta(ctx: DriverContext, ref: ResourceRef, desired: Desired, tx: Transaction) {
  const labels = Object.fromEntries(desired.destinations.map((d) => [String(d.id), d.label]));
  const extra: SlrMetaExtra = { labels, netns: desired.netns };
  writeMetaStep(tx, ref.dir, metaRecord(ctx, ref, desired, extra));
}

/** Puts the labelled destinations' sockets into the map; our duplicates close right after. */
function fillSockets(map: BpfMap, desired: Desired, labels: string[]): void {
  const taken = desired.takeSockets(labels);
  const idOf = new Map(desired.destinations.map((d) => [d.label, d.id]));
  try {
    putSockets(map, taken.map((t) => ({ id: idOf.get(t.label)!, fd: t.fd })));
  } finally {
    for (const t of taken) libc().close(t.fd);
  }
}

function attach(
  prog: { ptr: Deno.PointerObject; fd: number; name: string },
  netns: string,
): BpfLink {
  const fd = openNetns(netns);
  try {
    return BpfLink.attachNetns(prog, fd);
  } finally {
    libc().close(fd);
  }
}

/** Loads, fills, pins and attaches; the metadata pin goes last. */
export function createSlr({ ctx, ref, desired, tx }: CreateRequest<Desired>): Promise<void> {
  beginPinDir(ref.dir, tx);
  const obj = loadObject(gen.object, "sk_lookup");
  try {
    const dests = new BpfMap(obj.mapFd(gen.maps.destinations), false);
    fillSockets(dests, desired, desired.destinations.map((d) => d.label));
    const bindings = new BpfMap(obj.mapFd(gen.maps.bindings), false);
    syncBindings(bindings, {}, new Map(desired.entries.map((e) => [e.key, entryValue(e)])), null);
    for (const name of [PIN.bindings, PIN.destinations, PIN.counters] as const) {
      pinFd(obj.mapFd(gen.maps[name]), `${ref.dir}/${name}`);
    }
    const prog = obj.program(gen.programs.dispatch);
    pinFd(prog.fd, `${ref.dir}/${PIN.prog}`);
    attach(prog, desired.netns).pinAndClose(`${ref.dir}/${PIN.link}`);
    writeSlrMeta(ctx, ref, desired, tx);
  } finally {
    obj.close();
  }
  return Promise.resolve();
}

/** Each map pin and the object's map it stands for. */
const MAP_PINS = {
  [PIN.bindings]: gen.maps.bindings,
  [PIN.destinations]: gen.maps.destinations,
  [PIN.counters]: gen.maps.counters,
};

/** Swaps the program (new version or foreign program) atomically and repins it. */
function refreshProgram(
  ref: ResourceRef,
  observed: Observed<SlrState, SlrMetaExtra>,
  desired: Desired,
  tx: Transaction,
  link: BpfLink,
) {
  const newVersion = observed.meta?.objectHash !== desired.objectHash;
  if (!newVersion && observed.state.link.progTag === observed.state.progTag) return;
  // Held for the undos below (they run first); released once the apply ends.
  // Left open, it would keep the replaced program loaded in a long-lived process.
  const held = new Held(tx, ref.name);
  const oldProg = held.fd(openPin(`${ref.dir}/${PIN.prog}`, "prog"));
  let progFd = oldProg;
  if (newVersion || oldProg === null) {
    const load = (reuse: Record<string, number>) => loadObject(gen.object, "sk_lookup", reuse);
    const obj = held.hold(loadOnPinnedMaps(ref.dir, MAP_PINS, load));
    progFd = obj.program(gen.programs.dispatch).fd;
    replacePin(tx, held, `${ref.dir}/${PIN.prog}`, progFd);
  }
  if (link.info().netnsIno !== 0) swapProgram(tx, link, progFd!, oldProg);
}

/** Repairs or re-attaches the link; returns an open handle to it. */
function ensureLink(
  ref: ResourceRef,
  observed: Observed<SlrState, SlrMetaExtra>,
  desired: Desired,
  tx: Transaction,
): BpfLink {
  const existing = BpfLink.openPinned(`${ref.dir}/${PIN.link}`);
  if (existing && observed.state.link.attached) return existing;
  const progFd = openPin(`${ref.dir}/${PIN.prog}`, "prog");
  if (progFd === null) {
    throw new Error(`${ref.dir}/${PIN.prog} is missing: the resource must be replaced`);
  }
  const netnsFd = openNetns(desired.netns);
  let fresh: BpfLink;
  try {
    fresh = BpfLink.attachSkLookupFd(progFd, netnsFd);
  } finally {
    libc().close(netnsFd);
    libc().close(progFd);
  }
  // The detached link's handle stays open until the end: a rollback re-pins it.
  tx.onRollback("detach the repaired link", () => {
    unpin(`${ref.dir}/${PIN.link}`);
    if (existing) existing.pin(`${ref.dir}/${PIN.link}`);
    existing?.close();
    fresh.close();
  });
  unpin(`${ref.dir}/${PIN.link}`);
  fresh.pin(`${ref.dir}/${PIN.link}`);
  tx.onCommit("close link handles", () => {
    fresh.close();
    existing?.close();
  });
  return fresh;
}

/**
 * Destination sockets under their stable ids (resources/socket_lookup_redirect/ids.ts):
 * a fresh id is empty, so its undo deletes it; a socket replaced in place (no
 * fresh id left) cannot be put back, as userspace cannot read a socket out of
 * a SOCKHASH, and the plan says so (not hitless).
 */
function putNewSockets(
  ref: ResourceRef,
  dests: BpfMap,
  observed: Observed<SlrState, SlrMetaExtra>,
  desired: Desired,
  tx: Transaction,
) {
  const changed = socketOps(observed.state, desired).put;
  for (const d of changed) tx.onRollback(`remove socket ${d.label}`, () => dests.delete(u32(d.id)));
  // A fresh id may have counted for a destination that held it long ago.
  withPinnedMap(ref.dir, PIN.counters, (m) => {
    for (const d of changed) if (!d.inPlace) m.update(u32(d.id), new Uint8Array(m.valueSize));
  });
  fillSockets(dests, desired, changed.map((d) => d.label));
}

/**
 * Ids no binding uses any more leave the SOCKHASH at commit: until then a
 * rollback (of this step or a later one) finds their sockets where they were,
 * and a kill leaves an unused id that the next plan removes.
 */
function removeUnusedSockets(
  ref: ResourceRef,
  observed: Observed<SlrState, SlrMetaExtra>,
  desired: Desired,
  tx: Transaction,
) {
  for (const id of socketOps(observed.state, desired).unused) {
    tx.onCommit(
      `remove unused socket id ${id}`,
      () => withPinnedMap(ref.dir, PIN.destinations, (m) => m.delete(u32(Number(id)))),
    );
  }
}

/**
 * Link repair, program swap, then the data: new sockets under fresh ids,
 * bindings moved in precedence order, unused ids at commit, metadata last.
 */
export function updateSlr(
  { ctx, ref, observed, desired: resolved, tx }: UpdateRequest<Desired, SlrState, SlrMetaExtra>,
): Promise<void> {
  const desired: Desired = { ...resolved, ...stableIds(observed, resolved) };
  const link = ensureLink(ref, observed, desired, tx);
  tx.onRollback("close link", () => link.close()); // after the undos that use it
  tx.onCommit("close link", () => link.close());
  refreshProgram(ref, observed, desired, tx, link);
  const dests = openMapForApply(ref.dir, PIN.destinations, tx);
  putNewSockets(ref, dests, observed, desired, tx);
  const bindings = openMapForApply(ref.dir, PIN.bindings, tx);
  syncBindings(
    bindings,
    observed.state.entries,
    new Map(desired.entries.map((e) => [e.key, entryValue(e)])),
    tx,
  );
  removeUnusedSockets(ref, observed, desired, tx);
  writeSlrMeta(ctx, ref, desired, tx);
  return Promise.resolve();
}
