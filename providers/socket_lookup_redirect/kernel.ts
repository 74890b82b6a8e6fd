/**
 * Reading and writing the SocketLookupRedirect maps and pins of one resource
 * directory. Layout: `link`, `prog`, `bindings`, `destinations`, `counters`, `meta`.
 *
 * @module
 */
import type { BpfMap } from "../libbpf/map.ts";
import { BpfLink } from "../libbpf/link.ts";
import { progInfo, progTagById } from "../libbpf/info.ts";
import { libc } from "../libc/ffi.ts";
import { openPin } from "../libbpf/pins.ts";
import { bindingEdits, keyBytes, keyHex } from "../../resources/socket_lookup_redirect/entries.ts";
import type { SlrState } from "../../resources/socket_lookup_redirect.ts";
import type { Transaction } from "../../engine/types.ts";
import { withPinnedMap } from "../state/pin_dir.ts";

/** Pin names inside a resource directory. */
export const PIN = {
  link: "link",
  prog: "prog",
  bindings: "bindings",
  destinations: "destinations",
  counters: "counters",
} as const;

/** A u32 map key (destination id). */
export function u32(n: number): Uint8Array {
  return new Uint8Array(new Uint32Array([n]).buffer);
}

function readLink(dir: string): SlrState["link"] {
  const link = BpfLink.openPinned(`${dir}/${PIN.link}`);
  if (!link) return { pinned: false, attached: false, netnsIno: 0, progTag: null };
  try {
    const info = link.info();
    return {
      pinned: true,
      attached: info.netnsIno !== 0,
      netnsIno: info.netnsIno,
      progTag: progTagById(info.progId),
    };
  } finally {
    link.close();
  }
}

function readProgTag(dir: string): string | null {
  const fd = openPin(`${dir}/${PIN.prog}`, "prog");
  if (fd === null) return null;
  try {
    return progInfo(fd).tag;
  } finally {
    libc().close(fd);
  }
}

/** Reads everything the plan compares, as plain JSON. */
export function readState(dir: string): SlrState {
  const entries: Record<string, number> = {};
  withPinnedMap(dir, PIN.bindings, (m) => {
    const id = new DataView(new ArrayBuffer(4));
    m.forEachEntry((k, v) => {
      for (let i = 0; i < 4; i++) id.setUint8(i, v[i]);
      entries[keyHex(k)] = id.getUint32(0, true);
    });
  });
  const destinations: Record<string, string> = {};
  withPinnedMap(dir, PIN.destinations, (m) => {
    for (const [k, v] of m.entries()) {
      destinations[String(new DataView(k.buffer).getUint32(0, true))] = new DataView(v.buffer)
        .getBigUint64(0, true).toString();
    }
  });
  return { link: readLink(dir), progTag: readProgTag(dir), entries, destinations };
}

/** Per-destination counters by id. */
export function readCounters(
  dir: string,
): Record<string, { lookups: number; redirected: number; noSocket: number }> {
  const out: Record<string, { lookups: number; redirected: number; noSocket: number }> = {};
  withPinnedMap(dir, PIN.counters, (m) => {
    for (const [k, v] of m.entries()) {
      const dv = new DataView(v.buffer);
      const c = {
        lookups: Number(dv.getBigUint64(0, true)),
        redirected: Number(dv.getBigUint64(8, true)),
        noSocket: Number(dv.getBigUint64(16, true)),
      };
      if (c.lookups || c.redirected || c.noSocket) {
        out[String(new DataView(k.buffer).getUint32(0, true))] = c;
      }
    }
  });
  return out;
}

/**
 * Brings the bindings map to `want` with undo, in the order `bindingEdits`
 * gives (and the plan showed): adds and changes most specific first, then
 * removals most specific first, so the least specific entry is the last to
 * leave; only when the adds would not fit do some removals go first.
 * Undos are registered before their change: a rollback deletes what was
 * added before it restores what was removed, so it always fits.
 */
export function syncBindings(
  map: BpfMap,
  have: Record<string, number>,
  want: Map<string, number>,
  tx: Transaction | null,
) {
  const { removeFirst, upsert, removeLast } = bindingEdits(have, want);
  const remove = (key: string) => {
    const old = have[key];
    tx?.onRollback(`restore binding ${key}`, () => map.update(keyBytes(key), u32(old)));
    map.delete(keyBytes(key));
  };
  removeFirst.forEach(remove);
  for (const key of upsert) {
    const old = have[key];
    tx?.onRollback(`restore binding ${key}`, () => {
      if (old === undefined) map.delete(keyBytes(key));
      else map.update(keyBytes(key), u32(old));
    });
    map.update(keyBytes(key), u32(want.get(key)!));
  }
  removeLast.forEach(remove);
}

/** Puts each destination socket into the SOCKHASH under its id (value: the fd). */
export function putSockets(map: BpfMap, sockets: { id: number; fd: number }[]): void {
  for (const s of sockets) {
    const value = new Uint8Array(8);
    new DataView(value.buffer).setBigUint64(0, BigInt(s.fd), true);
    map.update(u32(s.id), value);
  }
}
