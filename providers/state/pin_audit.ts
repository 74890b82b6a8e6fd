/**
 * Kind-agnostic checks of a resource directory, the same for every BPF kind:
 * each pinned map must be the map its program uses (a foreign map at a
 * sockform pin name is drift that forces a replace, shown field by field as
 * cilium's `MapSpec.Compatible` does), and each pin and the directory must
 * keep the owner and mode sockform gave them (pins 0600, directories 0700).
 *
 * @module
 */
import type { Change } from "../../engine/types.ts";
import { type MapInfo, mapInfo } from "../libbpf/info.ts";
import { mapInfoById, programMapIds } from "../libbpf/map.ts";
import { mapTypeName } from "../libbpf/uapi.ts";
import { mapIncompatibility } from "../libbpf/map_spec.ts";
import { BpfLink } from "../libbpf/link.ts";
import { openPin } from "../libbpf/pins.ts";
import { libbpf } from "../libbpf/ffi.ts";
import { libc } from "../libc/ffi.ts";
import { modeDrift } from "./pin_modes.ts";

/** A map's shape in one line, e.g. `HASH key 4 value 8 max 16`. */
function shape(m: MapInfo): string {
  return `${mapTypeName(m.type)} key ${m.keySize} value ${m.valueSize} max ${m.maxEntries}`;
}

/** The fd of the program the directory runs: its link's program, else its `prog` pin. */
function programFd(dir: string): number | null {
  try {
    const link = BpfLink.openPinned(`${dir}/link`);
    if (link) {
      try {
        const fd = libbpf().bpf_prog_get_fd_by_id(link.info().progId);
        if (fd >= 0) return fd;
      } finally {
        link.close();
      }
    }
    return openPin(`${dir}/prog`, "prog");
  } catch {
    return null; // a foreign link or prog pin: the kind's own observe reports it
  }
}

/** The maps the directory's program uses, by name; null without a program. */
function programMaps(dir: string): Map<string, MapInfo> | null {
  const fd = programFd(dir);
  if (fd === null) return null;
  try {
    const maps = programMapIds(fd).map(mapInfoById);
    return new Map(maps.map((m) => [m.name, m]));
  } catch {
    return null;
  } finally {
    libc().close(fd);
  }
}

/**
 * What differs between the map the program uses and the one pinned, field by
 * field ("KeySize: 4 changed to 8"), or that it is another map of the same shape.
 */
function mapDifference(want: MapInfo, found: MapInfo): string | null {
  if (want.id === found.id) return null;
  return mapIncompatibility(want, found) ??
    `map id ${found.id} is not the map the program uses (id ${want.id})`;
}

/** Info of the object pinned at `path`; null when nothing (readable) is pinned there. */
function pinnedMapInfo(path: string): MapInfo | null {
  try {
    const fd = openPin(path, "map");
    if (fd === null) return null;
    try {
      return mapInfo(fd);
    } finally {
      libc().close(fd);
    }
  } catch {
    return null;
  }
}

/**
 * Why the map pinned at `<dir>/<name>` is foreign (not the map the resource's
 * program uses), or null when it is the program's map or there is no program
 * to compare with (an unfinished create, replaced anyway).
 *
 * @example Before reading a pinned map
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { BpfMap } from "../libbpf/map.ts";
 *
 * function check(dir: string, map: BpfMap): string | null {
 *   return foreignMapProblem(dir, "bindings", map.fd);
 * }
 * ```
 */
export function foreignMapProblem(dir: string, name: string, mapFd: number): string | null {
  const want = programMaps(dir)?.get(name);
  if (!want) return null;
  const diff = mapDifference(want, mapInfo(mapFd));
  return diff && `${dir}/${name} is a foreign map (${diff})`;
}

/** Foreign maps at the pin names of the program's maps, as drift that forces a replace. */
function foreignMaps(dir: string): Change[] {
  const out: Change[] = [];
  for (const [name, want] of programMaps(dir) ?? []) {
    const found = pinnedMapInfo(`${dir}/${name}`);
    const diff = found && mapDifference(want, found);
    if (!found || !diff) continue; // missing pins are the kind's own drift
    out.push({
      path: `pins.${name}`,
      before: shape(found),
      after: shape(want),
      reason: `${dir}/${name} is a foreign map (${diff}): the resource must be replaced`,
      hitless: false,
      forcesReplace: true,
    });
  }
  return out;
}

/**
 * Everything kind-agnostic that differs in a resource directory: foreign
 * maps (forcing a replace) and owner or mode changes (repaired in place).
 *
 * @example In plan, after the kind's own diff
 * ```ts
 * const drift = auditPinDir("/sys/fs/bpf/sockform/edge/web");
 * ```
 */
export function auditPinDir(dir: string): Change[] {
  return [...foreignMaps(dir), ...modeDrift(dir)];
}
