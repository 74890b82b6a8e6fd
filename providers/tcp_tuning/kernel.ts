/**
 * Reading a TcpTuning back from its pins: link (attached? which cgroup?
 * which program?), program tag, the ruleset element, and the counters.
 *
 * @module
 */
import type { TcpTuningState } from "../../resources/tcp_tuning.ts";
import { BpfLink } from "../libbpf/link.ts";
import { BpfMap } from "../libbpf/map.ts";
import { progInfo } from "../libbpf/info.ts";
import { openPin } from "../libbpf/pins.ts";
import { libc } from "../libc/ffi.ts";
import {
  COUNTERS_SIZE,
  decodeCounters,
  decodeRuleset,
  type RuleCounters,
  RULESET_SIZE,
} from "./codec.ts";
import { pathExists } from "../state/pin_dir.ts";

/** Pin names inside the resource directory (plus `meta`, written last). */
export const PIN = {
  link: "link",
  prog: "prog",
  ruleset: "ruleset",
  counters: "counters",
} as const;

/** Key of the one ruleset element. */
export const RULESET_KEY = new Uint8Array(4);

/**
 * Opens a pinned map and checks its shape; null when missing or foreign.
 *
 * @example Opening the ruleset pin
 * ```ts
 * const map = openShapedMap(`${dir}/ruleset`, 4, RULESET_SIZE);
 * ```
 */
export function openShapedMap(path: string, keySize: number, valueSize: number): BpfMap | null {
  let map: BpfMap | null = null;
  try {
    map = BpfMap.openPinned(path);
  } catch {
    return null;
  }
  if (map && (map.keySize !== keySize || map.valueSize !== valueSize)) {
    map.close();
    return null;
  }
  return map;
}

function readLink(dir: string): TcpTuningState["link"] {
  let link: BpfLink | null = null;
  try {
    link = BpfLink.openPinned(`${dir}/${PIN.link}`);
    if (!link) return null;
    const info = link.info();
    return { id: info.id, progId: info.progId, cgroupId: String(info.cgroupId) };
  } catch {
    return null; // not a link (a foreign pin): treated as missing
  } finally {
    link?.close();
  }
}

function readProgram(dir: string): TcpTuningState["program"] {
  let fd: number | null = null;
  try {
    fd = openPin(`${dir}/${PIN.prog}`, "prog");
    if (fd === null) return null;
    const info = progInfo(fd);
    return { id: info.id, tag: info.tag };
  } catch {
    return null;
  } finally {
    if (fd !== null) libc().close(fd);
  }
}

/**
 * Reads the raw ruleset element; null when the map or element is missing.
 *
 * @example The element as the kernel holds it
 * ```ts
 * const raw = readRulesetBytes(dir);
 * ```
 */
export function readRulesetBytes(dir: string): Uint8Array | null {
  const map = openShapedMap(`${dir}/${PIN.ruleset}`, 4, RULESET_SIZE);
  if (!map) return null;
  try {
    return map.lookup(RULESET_KEY);
  } finally {
    map.close();
  }
}

/**
 * Everything `observe` reports for one resource directory.
 *
 * @example Is the link still attached?
 * ```ts
 * const state = readState("/sys/fs/bpf/sockform/demo/dc");
 * console.log(state.link?.cgroupId);
 * ```
 */
export function readState(dir: string): TcpTuningState {
  const rulesetMap = openShapedMap(`${dir}/${PIN.ruleset}`, 4, RULESET_SIZE);
  const countersMap = openShapedMap(`${dir}/${PIN.counters}`, 4, COUNTERS_SIZE);
  rulesetMap?.close();
  countersMap?.close();
  const raw = readRulesetBytes(dir);
  const decoded = raw ? decodeRuleset(raw) : null;
  return {
    pins: {
      link: pathExists(`${dir}/${PIN.link}`),
      prog: pathExists(`${dir}/${PIN.prog}`),
      ruleset: rulesetMap !== null,
      counters: countersMap !== null,
    },
    link: readLink(dir),
    program: readProgram(dir),
    ruleset: decoded ? { hz: decoded.hz, rules: decoded.rules } : null,
  };
}

/**
 * The counters of the first `count` rules (zeros when the map is missing).
 *
 * @example How many connections the first rule tuned
 * ```ts
 * const [first] = readCounters(dir, 1);
 * console.log(first.applied);
 * ```
 */
export function readCounters(dir: string, count: number): RuleCounters[] {
  const map = openShapedMap(`${dir}/${PIN.counters}`, 4, COUNTERS_SIZE);
  const zero = { matched: 0, applied: 0, sampledOut: 0, errors: 0 };
  try {
    return Array.from({ length: count }, (_, i) => {
      const value = map?.lookup(new Uint8Array(new Uint32Array([i]).buffer));
      return value ? decodeCounters(value) : { ...zero };
    });
  } finally {
    map?.close();
  }
}
