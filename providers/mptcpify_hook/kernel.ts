/**
 * Reading and writing the MptcpifyHook pins of one resource directory.
 * Layout: `link`, `config`, `cgroups`, `comms`, `uids`, `stats`, `meta`.
 * Byte layouts follow bpf/include/mptcpify.h.
 *
 * @module
 */
import type { BpfMap } from "../libbpf/map.ts";
import { BpfLink } from "../libbpf/link.ts";
import { libbpf, unwrap } from "../libbpf/ffi.ts";
import { BITS } from "../../resources/mptcpify_hook/desired.ts";
import type {
  MptcpifyConfig,
  MptcpifyEntries,
  MptcpifyState,
} from "../../resources/mptcpify_hook.ts";
import type { Transaction } from "../../engine/types.ts";
import type { EntryEdit } from "../../resources/mptcpify_hook/diff.ts";
import { withPinnedMap } from "../state/pin_dir.ts";
import { progTagById } from "../libbpf/info.ts";

/** Pin names inside a resource directory. */
export const PIN = {
  link: "link",
  config: "config",
  cgroups: "cgroups",
  comms: "comms",
  uids: "uids",
  stats: "stats",
} as const;

/** The maps a new program build takes over from the pinned ones. */
export const MAP_PINS = [PIN.config, PIN.cgroups, PIN.comms, PIN.uids, PIN.stats] as const;

/** The scope maps, by their name in MptcpifyEntries. */
export const SCOPE_MAPS = [PIN.cgroups, PIN.comms, PIN.uids] as const;

const COMM_LEN = 16;
const ZERO_KEY = new Uint8Array(4);

/**
 * Encodes a scope map key: cgroup id u64, comm char[16], uid u32 (little-endian).
 *
 * @example A comm key
 * ```ts
 * encodeKey("comms", "curl"); // "curl" and 12 NUL bytes
 * ```
 */
export function encodeKey(map: keyof MptcpifyEntries, key: string): Uint8Array {
  if (map === "cgroups") return new Uint8Array(new BigUint64Array([BigInt(key)]).buffer);
  if (map === "uids") return new Uint8Array(new Uint32Array([Number(key)]).buffer);
  const out = new Uint8Array(COMM_LEN);
  out.set(new TextEncoder().encode(key).subarray(0, COMM_LEN - 1));
  return out;
}

/**
 * Decodes a scope map key back to its string form.
 *
 * @example Round trip of a cgroup id
 * ```ts
 * decodeKey("cgroups", encodeKey("cgroups", "4242")); // "4242"
 * ```
 */
export function decodeKey(map: keyof MptcpifyEntries, bytes: Uint8Array): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (map === "cgroups") return view.getBigUint64(0, true).toString();
  if (map === "uids") return String(view.getUint32(0, true));
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(bytes.subarray(0, end < 0 ? undefined : end));
}

function u32(n: number): Uint8Array {
  return new Uint8Array(new Uint32Array([n]).buffer);
}

/**
 * The `config` value: families, match_all, walk_cgroups, pad (4 × u32).
 *
 * @example Both families, every TCP socket
 * ```ts
 * encodeConfig({ families: 3, matchAll: true, walkCgroups: false }); // 03 00 00 00 01 00 00 00 ...
 * ```
 */
export function encodeConfig(c: MptcpifyConfig): Uint8Array {
  return new Uint8Array(
    new Uint32Array([c.families, c.matchAll ? 1 : 0, c.walkCgroups ? 1 : 0, 0]).buffer,
  );
}

function decodeConfig(bytes: Uint8Array): MptcpifyConfig {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    families: v.getUint32(0, true),
    matchAll: v.getUint32(4, true) !== 0,
    walkCgroups: v.getUint32(8, true) !== 0,
  };
}

function readLink(dir: string): MptcpifyState["link"] {
  const link = BpfLink.openPinned(`${dir}/${PIN.link}`);
  if (!link) return { pinned: false, id: 0, progId: 0, progTag: null };
  try {
    const info = link.info();
    return { pinned: true, id: info.id, progId: info.progId, progTag: progTagById(info.progId) };
  } finally {
    link.close();
  }
}

/**
 * Reads everything the plan compares, as plain JSON.
 *
 * @example The link id a rescope must keep
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function showLink(): void {
 *   const { link } = readState("/sys/fs/bpf/sockform/mptcpify/legacy-apps");
 *   console.log(link?.id);
 * }
 * ```
 */
export function readState(dir: string): MptcpifyState {
  const entries: MptcpifyEntries = { cgroups: {}, comms: {}, uids: {} };
  for (const name of SCOPE_MAPS) {
    withPinnedMap(dir, name, (m) => {
      for (const [k, v] of m.entries()) {
        entries[name][decodeKey(name, k)] = new DataView(v.buffer).getUint32(0, true);
      }
    });
  }
  const config = withPinnedMap(dir, PIN.config, (m) => {
    const value = m.lookup(ZERO_KEY);
    return value ? decodeConfig(value) : null;
  });
  return { link: readLink(dir), config, entries };
}

/** Number of possible CPUs: per-CPU map values hold one slot for each. */
function possibleCpus(): number {
  const text = Deno.readTextFileSync("/sys/devices/system/cpu/possible").trim();
  let count = 0;
  for (const range of text.split(",")) {
    const [lo, hi] = range.split("-").map(Number);
    count += (hi ?? lo) - lo + 1;
  }
  return count;
}

/**
 * The hook's counters, summed over CPUs; null when the stats pin is missing.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function showStats(dir: string): void {
 *   console.log(readStats(dir)); // { considered: 120, forced: 7 }
 * }
 * ```
 */
export function readStats(dir: string): { considered: number; forced: number } | null {
  return withPinnedMap(dir, PIN.stats, (m) => {
    const cpus = possibleCpus();
    const slot = Math.ceil(m.valueSize / 8) * 8;
    const values = new Uint8Array(slot * cpus);
    unwrap(
      "bpf_map_lookup_elem(stats)",
      libbpf().bpf_map_lookup_elem(m.fd, new Uint8Array(ZERO_KEY), values),
    );
    const v = new DataView(values.buffer);
    let considered = 0n;
    let forced = 0n;
    for (let cpu = 0; cpu < cpus; cpu++) {
      considered += v.getBigUint64(cpu * slot, true);
      forced += v.getBigUint64(cpu * slot + 8, true);
    }
    return { considered: Number(considered), forced: Number(forced) };
  });
}

/**
 * Writes the config entry, with an undo that restores `before` (when there was one).
 *
 * @example Switching to IPv6 only inside an apply
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { BpfMap } from "../libbpf/map.ts";
 * import type { Transaction } from "../../engine/types.ts";
 * import type { MptcpifyConfig } from "../../resources/mptcpify_hook.ts";
 *
 * function ipv6Only(configMap: BpfMap, observedConfig: MptcpifyConfig, tx: Transaction): void {
 *   writeConfig(configMap, { families: 2, matchAll: false, walkCgroups: true }, observedConfig, tx);
 * }
 * ```
 */
export function writeConfig(
  map: BpfMap,
  want: MptcpifyConfig,
  before: MptcpifyConfig | null,
  tx: Transaction | null,
): void {
  map.update(ZERO_KEY, encodeConfig(want));
  if (before) tx?.onRollback("restore config", () => map.update(ZERO_KEY, encodeConfig(before)));
}

type Maps = Record<keyof MptcpifyEntries, BpfMap>;
type Put = Extract<EntryEdit, { bits: number }>;
type Removal = Extract<EntryEdit, { bits: null }>;

/**
 * Runs the plan's scope map edits, with undo. Puts go first, exclusions
 * before scope entries, so no socket that should stay TCP is converted
 * midway; `between` runs next (the config edit); removals go last, scope
 * entries before exclusions.
 *
 * @example A rescope from curl to iperf3
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { BpfMap } from "../libbpf/map.ts";
 * import type { Transaction } from "../../engine/types.ts";
 * import type { MptcpifyConfig, MptcpifyEntries } from "../../resources/mptcpify_hook.ts";
 * import { entryEdits } from "../../resources/mptcpify_hook/diff.ts";
 *
 * type Scope = { entries: MptcpifyEntries; config: MptcpifyConfig };
 * type Maps = Record<keyof MptcpifyEntries, BpfMap>;
 * function rescope(maps: Maps, cfg: BpfMap, have: Scope, want: Scope, tx: Transaction): void {
 *   const edits = entryEdits(have.entries, want.entries);
 *   syncEntries(maps, edits, tx, () => writeConfig(cfg, want.config, have.config, tx));
 * }
 * ```
 */
export function syncEntries(
  maps: Maps,
  edits: readonly EntryEdit[],
  tx: Transaction | null,
  between: () => void,
): void {
  const exclusion = (e: EntryEdit) => (e.bits ?? e.old) & BITS.exclude;
  const puts = edits.filter((e): e is Put => e.bits !== null);
  const removals = edits.filter((e): e is Removal => e.bits === null);
  for (const { map, key, bits, old } of puts.sort((a, b) => exclusion(b) - exclusion(a))) {
    maps[map].update(encodeKey(map, key), u32(bits));
    tx?.onRollback(`restore ${map} entry ${key}`, () => {
      if (old === undefined) maps[map].delete(encodeKey(map, key));
      else maps[map].update(encodeKey(map, key), u32(old));
    });
  }
  between();
  for (const { map, key, old } of removals.sort((a, b) => exclusion(a) - exclusion(b))) {
    maps[map].delete(encodeKey(map, key));
    tx?.onRollback(`restore ${map} entry ${key}`, () => {
      maps[map].update(encodeKey(map, key), u32(old));
    });
  }
}
