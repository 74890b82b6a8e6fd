/**
 * Reading a TcpTuning back from its pins: link (attached? which cgroup?
 * which program?), program tag, the ruleset element, and the counters.
 *
 * @module
 */
import type { TcpTuningState } from "../../resources/tcp_tuning.ts";
import { BpfLink } from "../libbpf/link.ts";
import type { BpfMap } from "../libbpf/map.ts";
import { objectMapSpec, openCompatibleMap } from "../libbpf/map_spec.ts";
import * as gen from "../../bpf/gen/sock_ops.ts";
import { progInfo } from "../libbpf/info.ts";
import { openPin } from "../libbpf/pins.ts";
import { libc } from "../libc/ffi.ts";
import { decodeCounters, decodeRuleset, type RuleCounters } from "./codec.ts";
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
 * Opens one of the program's pinned maps (`ruleset` or `counters`) if it
 * matches the map the program declares in every field; null when missing or
 * foreign (the pin audit reports how it differs).
 *
 * @example Opening the ruleset pin
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function openRuleset(dir: string) {
 *   return openProgramMap(dir, "ruleset");
 * }
 * ```
 */
export function openProgramMap(dir: string, name: "ruleset" | "counters"): BpfMap | null {
  return openCompatibleMap(`${dir}/${PIN[name]}`, objectMapSpec(gen.object, gen.objectHash, name));
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
 * // needs a kernel: type-checked by deno test --doc, not run
 * function rawRuleset(dir: string): Uint8Array | null {
 *   return readRulesetBytes(dir);
 * }
 * ```
 */
export function readRulesetBytes(dir: string): Uint8Array | null {
  const map = openProgramMap(dir, "ruleset");
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
 * // needs a kernel: type-checked by deno test --doc, not run
 * function showCgroup(): void {
 *   const state = readState("/sys/fs/bpf/sockform/demo/dc");
 *   console.log(state.link?.cgroupId);
 * }
 * ```
 */
export function readState(dir: string): TcpTuningState {
  const rulesetMap = openProgramMap(dir, "ruleset");
  const countersMap = openProgramMap(dir, "counters");
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
 * // needs a kernel: type-checked by deno test --doc, not run
 * function showFirst(dir: string): void {
 *   const [first] = readCounters(dir, 1);
 *   console.log(first.applied);
 * }
 * ```
 */
export function readCounters(dir: string, count: number): RuleCounters[] {
  const map = openProgramMap(dir, "counters");
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
