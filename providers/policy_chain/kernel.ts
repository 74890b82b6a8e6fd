/**
 * Reading a PolicyChain back from its pins (programs, the ruleset element,
 * every `link-*` pin with its device and hook), its counters (attaching:
 * attach.ts, re-exported here).
 *
 * @module
 */
import type { Hook, ObservedLink, PolicyChainState } from "../../resources/policy_chain.ts";
import { BpfLink } from "../libbpf/link.ts";
import { BpfMap } from "../libbpf/map.ts";
import { objectMapSpec, openCompatibleMap } from "../libbpf/map_spec.ts";
import * as gen from "../../bpf/gen/policy_chain.ts";
import { progInfo } from "../libbpf/info.ts";
import { openPin } from "../libbpf/pins.ts";
import { libbpf, unwrap } from "../libbpf/ffi.ts";
import { libc } from "../libc/ffi.ts";
import { BPF_TCX_EGRESS, BPF_TCX_INGRESS, BPF_XDP } from "../libbpf/uapi.ts";
import { devIfindex, readNetnsJournal, staleChainFilters, TC_NETNS_PIN, tcFilters } from "./tc.ts";
import { sockformOwners } from "../libbpf/attachments.ts";
import { COUNTERS_SIZE, decodeRuleset, type RuleCounters, sumCounters } from "./codec.ts";

export { ATTACH_TYPE, attachTcx } from "./attach.ts";

/** Fixed pin names inside the resource directory (plus `link-*` and `meta`). */
export const PIN = {
  ingress: "prog-ingress",
  egress: "prog-egress",
  xdp: "prog-xdp",
  ruleset: "ruleset",
  counters: "counters",
  flows: "flows",
} as const;

/** The program of each hook in the object. */
export const PROGRAM: Record<Hook, string> = {
  ingress: gen.programs.chain_ingress,
  egress: gen.programs.chain_egress,
  xdp: gen.programs.chain_xdp,
};

/** Key of the one ruleset element. */
export const RULESET_KEY = new Uint8Array(4);

/**
 * The pin name of one link.
 *
 * @example
 * ```ts
 * linkPin("eth1", "ingress"); // "link-ingress-eth1"
 * ```
 */
export function linkPin(dev: string, hook: Hook): string {
  return `link-${hook}-${dev}`;
}

/**
 * Opens a pinned map of the program if it matches the object's map in every field.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function openRuleset(dir: string) {
 *   return openChainMap(dir, "ruleset");
 * }
 * ```
 */
export function openChainMap(
  dir: string,
  name: "ruleset" | "counters" | "flows",
): BpfMap | null {
  return openCompatibleMap(`${dir}/${PIN[name]}`, objectMapSpec(gen.object, gen.objectHash, name));
}

function hookOf(attachType: number): Hook | null {
  return attachType === BPF_TCX_INGRESS
    ? "ingress"
    : attachType === BPF_TCX_EGRESS
    ? "egress"
    : attachType === BPF_XDP
    ? "xdp"
    : null;
}

/** A pinned tcx link read back; null when missing or not a link. */
export function readLink(dir: string, pin: string): ObservedLink | null {
  let link: BpfLink | null = null;
  try {
    link = BpfLink.openPinned(`${dir}/${pin}`);
    if (!link) return null;
    const info = link.info();
    return {
      pin,
      id: info.id,
      progId: info.progId,
      ifindex: info.ifindex,
      hook: hookOf(info.attachType),
    };
  } catch {
    return null; // not a link (a foreign pin): treated as missing
  } finally {
    link?.close();
  }
}

/**
 * The id of the program pinned at `path`, or null.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function ingressProgram(dir: string): number | null {
 *   return pinnedProgId(`${dir}/prog-ingress`); // 42
 * }
 * ```
 */
export function pinnedProgId(path: string): number | null {
  return readProgramId(path);
}

function readProgramId(path: string): number | null {
  let fd: number | null = null;
  try {
    fd = openPin(path, "prog");
    return fd === null ? null : progInfo(fd).id;
  } catch {
    return null;
  } finally {
    if (fd !== null) libc().close(fd);
  }
}

function readRules(dir: string): PolicyChainState["rules"] {
  const map = openChainMap(dir, "ruleset");
  if (!map) return null;
  try {
    const raw = map.lookup(RULESET_KEY);
    return raw ? decodeRuleset(raw) : null;
  } finally {
    map.close();
  }
}

/**
 * The `link-*` pins in a resource directory, sorted.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function pins(dir: string): string[] {
 *   return linkPins(dir); // ["link-egress-eth1", "link-ingress-eth1"]
 * }
 * ```
 */
export function linkPins(dir: string): string[] {
  const names: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (e.name === TC_NETNS_PIN) continue;
    if (e.name.startsWith("link-") || e.name.startsWith("tc-")) names.push(e.name);
  }
  return names.sort();
}

/**
 * The hook and device a `tc-<hook>-<dev>` pin name stands for.
 *
 * @example
 * ```ts
 * tcPinTarget("tc-ingress-eth1"); // { hook: "ingress", dev: "eth1" }
 * ```
 */
export function tcPinTarget(pin: string): { hook: Hook; dev: string } | null {
  const m = /^tc-(ingress|egress)-(.+)$/.exec(pin);
  return m ? { hook: m[1] as Hook, dev: m[2] } : null;
}

/** The netns a tc-mode chain's filters live in (its journal map), or null. */
export function tcNetns(dir: string): string | null {
  let fd: number | null = null;
  try {
    fd = openPin(`${dir}/${TC_NETNS_PIN}`, "map");
    return fd === null ? null : readNetnsJournal(new BpfMap(fd, false));
  } catch {
    return null;
  } finally {
    if (fd !== null) libc().close(fd);
  }
}

/** A `tc-*` pin read back: attached when a filter on its device runs the pinned program. */
function readTcLink(dir: string, pin: string, netns: string | null): ObservedLink {
  const target = tcPinTarget(pin);
  const progId = readProgramId(`${dir}/${pin}`);
  const gone: ObservedLink = { pin, id: 0, progId: 0, ifindex: 0, hook: target?.hook ?? null };
  if (!target) return gone;
  const root = dir.replace(/\/[^/]+\/[^/]+\/?$/, "");
  const stale = staleChainFilters(
    netns,
    target.dev,
    target.hook,
    new Set([progId ?? -1]),
    sockformOwners(root),
  );
  const found = tcFilters(netns, target.dev, target.hook)?.some((f) => f.progId === progId);
  const base = stale.length ? { ...gone, stale } : gone;
  if (!found || progId === null) return base;
  return { ...base, progId, ifindex: devIfindex(netns, target.dev) };
}

/**
 * Everything `observe` reports for one resource directory.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function linkIfindexes(): void {
 *   readState("/sys/fs/bpf/sockform/demo/edge").links.map((l) => l.ifindex);
 * }
 * ```
 */
export function readState(dir: string): PolicyChainState {
  const maps = {
    ruleset: openChainMap(dir, "ruleset"),
    counters: openChainMap(dir, "counters"),
    flows: openChainMap(dir, "flows"),
  };
  Object.values(maps).forEach((m) => m?.close());
  const programs = {
    ingress: readProgramId(`${dir}/${PIN.ingress}`),
    egress: readProgramId(`${dir}/${PIN.egress}`),
    xdp: readProgramId(`${dir}/${PIN.xdp}`),
  };
  const netns = tcNetns(dir);
  const links = linkPins(dir).map((pin) =>
    pin.startsWith("tc-")
      ? readTcLink(dir, pin, netns)
      : readLink(dir, pin) ?? { pin, id: 0, progId: 0, ifindex: 0, hook: null }
  );
  return {
    pins: {
      ingress: programs.ingress !== null,
      egress: programs.egress !== null,
      xdp: programs.xdp !== null,
      ruleset: maps.ruleset !== null,
      counters: maps.counters !== null,
      flows: maps.flows !== null,
    },
    programs,
    links,
    rules: readRules(dir),
  };
}

/**
 * CPUs a per-CPU map holds a value for (/sys/devices/system/cpu/possible).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { COUNTERS_SIZE } from "./codec.ts";
 *
 * function perCpuValue(): Uint8Array {
 *   return new Uint8Array(possibleCpus() * COUNTERS_SIZE);
 * }
 * ```
 */
export function possibleCpus(): number {
  const text = Deno.readTextFileSync("/sys/devices/system/cpu/possible").trim();
  return text.split(",").reduce((n, part) => {
    const [lo, hi] = part.split("-").map(Number);
    return n + (hi === undefined ? 1 : hi - lo + 1);
  }, 0);
}

/**
 * The record counters of the first `count` rules, summed over CPUs (zeros when missing).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function firstRulePackets(dir: string) {
 *   return readCounters(dir, 1)[0].packets;
 * }
 * ```
 */
export function readCounters(dir: string, count: number): RuleCounters[] {
  const map = openChainMap(dir, "counters");
  const cpus = possibleCpus();
  try {
    return Array.from({ length: count }, (_, i) => {
      const value = new Uint8Array(cpus * COUNTERS_SIZE);
      const key = new Uint8Array(new Uint32Array([i]).buffer);
      if (!map) return { packets: 0, bytes: 0 };
      unwrap("bpf_map_lookup_elem", libbpf().bpf_map_lookup_elem(map.fd, key, value));
      return sumCounters(value, cpus);
    });
  } finally {
    map?.close();
  }
}
