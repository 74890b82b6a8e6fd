/**
 * Map compatibility, as cilium/ebpf's `MapSpec.Compatible`: one check of a
 * kernel map against the map a program expects, over type, key size, value
 * size, max_entries and flags, reported field by field
 * ("KeySize: 4 changed to 8"). Every BPF kind's pinned maps go through it.
 *
 * @module
 */
import { BpfObject } from "./object.ts";
import { BpfMap } from "./map.ts";
import { mapInfo } from "./info.ts";
import { mapTypeName } from "./uapi.ts";

/** The fields that decide whether a kernel map can stand in for a declared one. */
export interface MapSpec {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** `map_flags`, e.g. `BPF_F_NO_PREALLOC`. */
  flags: number;
}

/**
 * Each field where `found` differs from `want`, as "Field: want changed to
 * found"; empty when the map is compatible.
 *
 * @example A map pinned with another key size
 * ```ts
 * const want: MapSpec = { type: 2, keySize: 4, valueSize: 168, maxEntries: 1, flags: 0 };
 * mapSpecDiff(want, { ...want, keySize: 8 }); // ["KeySize: 4 changed to 8"]
 * ```
 */
export function mapSpecDiff(want: MapSpec, found: MapSpec): string[] {
  const hex = (n: number) => `0x${n.toString(16)}`;
  const fields = [
    ["Type", mapTypeName(want.type), mapTypeName(found.type)],
    ["KeySize", want.keySize, found.keySize],
    ["ValueSize", want.valueSize, found.valueSize],
    ["MaxEntries", want.maxEntries, found.maxEntries],
    ["Flags", hex(want.flags), hex(found.flags)],
  ] as const;
  return fields.filter(([, a, b]) => a !== b).map(([f, a, b]) => `${f}: ${a} changed to ${b}`);
}

/**
 * Why `found` cannot stand in for `want` (the differing fields joined), or
 * null when it can.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { mapInfo } from "./info.ts";
 *
 * function requireCompatible(spec: MapSpec, fd: number, path: string): void {
 *   const problem = mapIncompatibility(spec, mapInfo(fd));
 *   if (problem) throw new Error(`${path}: ${problem}`);
 * }
 * ```
 */
export function mapIncompatibility(want: MapSpec, found: MapSpec): string | null {
  const diff = mapSpecDiff(want, found);
  return diff.length ? diff.join(", ") : null;
}

const specs = new Map<string, MapSpec>();

/**
 * The spec of map `map` in a BPF ELF object, parsed once per process.
 *
 * @example The ruleset map TcpTuning's program declares
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import * as gen from "../../bpf/gen/sock_ops.ts";
 *
 * function rulesetSpec(): MapSpec {
 *   return objectMapSpec(gen.object, gen.objectHash, gen.maps.ruleset);
 * }
 * ```
 */
export function objectMapSpec(object: Uint8Array, objectHash: string, map: string): MapSpec {
  const key = `${objectHash}/${map}`;
  let spec = specs.get(key);
  if (!spec) {
    const obj = BpfObject.open(object, "spec");
    try {
      spec = obj.mapSpec(map);
    } finally {
      obj.close();
    }
    specs.set(key, spec);
  }
  return spec;
}

/**
 * Opens the map pinned at `path` if it is compatible with `spec`; null when
 * the pin is missing, holds another kind of object, or a map that differs
 * (the plan reports that as drift that forces a replace).
 *
 * @example Reading TcpTuning's ruleset pin
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function openRuleset(dir: string, spec: MapSpec) {
 *   return openCompatibleMap(`${dir}/ruleset`, spec);
 * }
 * ```
 */
export function openCompatibleMap(path: string, spec: MapSpec): BpfMap | null {
  let map: BpfMap | null;
  try {
    map = BpfMap.openPinned(path);
  } catch {
    return null;
  }
  if (map && mapIncompatibility(spec, mapInfo(map.fd))) {
    map.close();
    return null;
  }
  return map;
}
