/**
 * The kernel driver for SocketLookupRedirect: resolve listeners, read pins,
 * and create/update/delete the sk_lookup program, its maps and its netns link.
 *
 * @module
 */
import type { DriverContext, KindDriver, Observed, ResourceRef } from "../../engine/types.ts";
import type {
  SlrDesired,
  SlrState,
  SocketLookupRedirect,
  SocketLookupRedirectSpec,
} from "../../resources/socket_lookup_redirect.ts";
import { PlanError } from "../../engine/errors.ts";
import { hashJson } from "../../engine/hash.ts";
import * as gen from "../../bpf/gen/sk_lookup.ts";
import { findListener, MPTCP_REFUSAL, takeSocket } from "../system/listeners.ts";
import { type Listener, socketCookie } from "../system/socket_info.ts";
import { assertNetnsExists, CALLER_NETNS, netnsInode } from "../system/netns.ts";
import { requireFeature, SK_LOOKUP } from "../system/features.ts";
import { PIN, readCounters, readState } from "./kernel.ts";
import { createSlr, type SlrDriverDesired, updateSlr } from "./ops.ts";
import { pinDirKind } from "../bpf_kind/pin_dir_kind.ts";
import { libc } from "../libc/ffi.ts";
import {
  ID_MASK,
  recordedLabels,
  type SlrMetaExtra,
  upgradeSlrExtra,
} from "../../resources/socket_lookup_redirect/ids.ts";
import { FALLTHROUGH } from "../../resources/socket_lookup_redirect/entries.ts";
import { socketOption, SOCKOPT } from "../system/socket_info.ts";
import { foreignOnNetns } from "../libbpf/attachments.ts";

type Destination = SocketLookupRedirectSpec["destinations"][string];

function takeDestination(name: string, label: string, dest: Destination, netns: string): Listener {
  const field = `destinations.${label}`;
  let listener: Listener;
  try {
    listener = "listener" in dest
      ? findListener(dest.listener, netns === CALLER_NETNS ? undefined : netns)
      : takeSocket(dest.pid, dest.fd);
  } catch (e) {
    throw new PlanError(name, field, e instanceof Error ? e.message : String(e));
  }
  if (listener.mptcp) {
    libc().close(listener.fd);
    throw new PlanError(name, field, `${MPTCP_REFUSAL}; declare a plain TCP listener`);
  }
  return listener;
}

/**
 * What bpf_sk_assign would refuse (EPROTOTYPE, EAFNOSUPPORT), leaving the
 * binding silently unsteered. The schema checks listener URLs; the socket
 * behind `{ pid, fd }` is only known here.
 */
function checkSocketFits(resource: SocketLookupRedirect, label: string, l: Listener): void {
  const dest =
    `${label} (pid ${l.pid}: ${l.protocol} ${l.family} socket on ${l.address}:${l.port})`;
  resource.spec.bindings.forEach((b, i) => {
    if (b.to !== label) return;
    const fail = (why: string) => {
      throw new PlanError(resource.name, `bindings[${i}].to`, why);
    };
    if (b.protocol !== l.protocol) fail(`a ${b.protocol} binding cannot go to ${dest}`);
    const v6Prefix = b.prefix.includes(":");
    if (v6Prefix && l.family === "ipv4") {
      fail(`mixed families: ipv6 prefix ${b.prefix} with ${dest}`);
    }
    if (!v6Prefix && l.family === "ipv6" && socketOption(l.fd, SOCKOPT.IPV6_V6ONLY) !== 0) {
      fail(`mixed families: ipv4 prefix ${b.prefix} with ${dest}, which is IPV6_V6ONLY`);
    }
  });
}

/** Takes a destination's socket, checks it, reads its cookie and closes it again. */
function cookieOf(resource: SocketLookupRedirect, label: string, netns: string): string {
  const dest = resource.spec.destinations[label];
  const listener = takeDestination(resource.name, label, dest, netns);
  try {
    if (!("listener" in dest)) checkSocketFits(resource, label, listener);
    return socketCookie(listener.fd).toString();
  } finally {
    libc().close(listener.fd);
  }
}

/**
 * Takes the sockets again at apply time. Plans only read cookies and close
 * their duplicates: a held duplicate would keep a listener alive after its
 * owner exits (hiding that drift and blocking a restarted listener's bind).
 */
function socketTaker(
  resource: SocketLookupRedirect,
  netns: string,
  destinations: SlrDesired["destinations"],
) {
  return (labels: string[]) => {
    const taken: { label: string; fd: number }[] = [];
    try {
      for (const label of labels) {
        const d = destinations.find((x) => x.label === label)!;
        const l = takeDestination(resource.name, label, resource.spec.destinations[label], netns);
        taken.push({ label, fd: l.fd });
        const cookie = socketCookie(l.fd).toString();
        if (cookie !== d.cookie) {
          throw new PlanError(
            resource.name,
            `destinations.${label}`,
            `${d.source} is a different socket (cookie ${cookie}) than planned (cookie ${d.cookie}); run plan again`,
          );
        }
      }
      return taken;
    } catch (e) {
      for (const t of taken) libc().close(t.fd);
      throw e;
    }
  };
}

async function resolve(
  _ctx: DriverContext,
  resource: SocketLookupRedirect,
): Promise<SlrDriverDesired> {
  const spec = resource.spec;
  const netns = spec.netns ?? CALLER_NETNS;
  requireFeature(SK_LOOKUP, resource.name, resource.kind);
  assertNetnsExists(resource.name, "netns", netns);
  const ids = resource.destinationIds();
  const destinations: SlrDesired["destinations"] = [];
  for (const [label, dest] of Object.entries(spec.destinations)) {
    const source = "listener" in dest ? dest.listener : `pid ${dest.pid} fd ${dest.fd}`;
    const cookie = cookieOf(resource, label, netns);
    destinations.push({ label, id: ids.get(label)!, cookie, source });
  }
  return await Promise.resolve({
    netns,
    netnsIno: netnsInode(netns),
    objectHash: gen.objectHash,
    entries: resource.entries(),
    destinations,
    specHash: hashJson(spec),
    takeSockets: socketTaker(resource, netns, destinations),
  });
}

/**
 * Counters per destination, plus `refused`: connections a binding sent to a
 * destination without a usable socket, which the program refused (every
 * destination but those with `fallthrough`, whose misses pass on instead).
 */
function describe(
  _ctx: DriverContext,
  ref: ResourceRef,
  observed: Observed<SlrState, SlrMetaExtra>,
) {
  const labels = recordedLabels(observed);
  const counters = readCounters(ref.dir);
  const values = Object.values(observed.state.entries);
  const fallsThrough = new Set(values.filter((v) => v & FALLTHROUGH).map((v) => v & ID_MASK));
  const perDestination: Record<string, unknown> = {};
  let refused = 0;
  for (const [id, label] of Object.entries(labels)) {
    const c = counters[id] ?? { lookups: 0, redirected: 0, noSocket: 0 };
    const refusedHere = fallsThrough.has(Number(id)) ? 0 : c.noSocket;
    refused += refusedHere;
    perDestination[label] = { ...c, refused: refusedHere };
  }
  return Promise.resolve({
    link: observed.state.link,
    bindings: Object.keys(observed.state.entries).length,
    refused,
    counters: perDestination,
  });
}

/** The SocketLookupRedirect kernel driver. */
export const socketLookupRedirectDriver: KindDriver<
  SocketLookupRedirect,
  SlrDriverDesired,
  SlrState,
  SlrMetaExtra
> = {
  kind: "SocketLookupRedirect",
  resolve,
  ...pinDirKind({
    readState,
    upgrade: upgradeSlrExtra,
    pins: [PIN.link, PIN.prog, PIN.bindings, PIN.destinations, PIN.counters],
  }),
  create: createSlr,
  update: updateSlr,
  describe,
  foreign: (ctx, ref, desired) => Promise.resolve(foreignOnNetns(ctx, ref, desired.netns)),
};

export { PIN };
