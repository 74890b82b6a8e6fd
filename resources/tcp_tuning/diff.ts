/**
 * The pure diff for TcpTuning: pins, the cgroup link, the program build and
 * the rules, each change with a reason and whether it is hitless.
 *
 * @module
 */
import type { Change, Observed } from "../../engine/types.ts";
import { canonicalJson } from "../../engine/hash.ts";
import { field } from "../../engine/meta.ts";
import type { TcpRule } from "./schema.ts";

/** The desired kernel state, as the driver resolves it from the spec. */
export interface TcpTuningDesired {
  /** Normalised cgroup v2 path. */
  cgroup: string;
  /** The cgroup's id (its inode on cgroup2fs), decimal. */
  cgroupId: string;
  /** sha256 of the BPF object to run. */
  objectHash: string;
  /** The kernel's CONFIG_HZ (TIMEOUT_INIT replies are in jiffies). */
  hz: number;
  /** The normalised rules, in match order. */
  rules: TcpRule[];
  /** sha256 of the normalised spec. */
  specHash: string;
}

/** `ResourceMeta.extra` of a TcpTuning: the cgroup the link was made for. */
export type TcpTuningMetaExtra = { cgroup: string | null; cgroupId: string | null };

/**
 * Reads the `extra` any sockform wrote (schema 0 and 1 share this layout).
 *
 * @example
 * ```ts
 * upgradeTcpTuningExtra({ cgroup: "/sys/fs/cgroup/unified/web", cgroupId: "4711" }, 0).cgroupId; // "4711"
 * ```
 */
export function upgradeTcpTuningExtra(extra: unknown, _schema: number): TcpTuningMetaExtra {
  const text = (name: string) => {
    const v = field(extra, name);
    return typeof v === "string" ? v : null;
  };
  return { cgroup: text("cgroup"), cgroupId: text("cgroupId") };
}

/** Which pins the resource directory holds. */
export interface TcpTuningPins {
  /** The link pin exists. */
  link: boolean;
  /** The program pin exists. */
  prog: boolean;
  /** The ruleset map pin exists. */
  ruleset: boolean;
  /** The counters map pin exists. */
  counters: boolean;
}

/** What the driver reads back from the kernel. Plain JSON. */
export interface TcpTuningState {
  /** Which of the resource's pins exist. */
  pins: TcpTuningPins;
  /** The pinned link; `cgroupId` is "0" once it is detached. */
  link: { id: number; progId: number; cgroupId: string } | null;
  /** The pinned program. */
  program: { id: number; tag: string } | null;
  /** The ruleset map's element, decoded (null when the element is missing). */
  ruleset: { hz: number; rules: TcpRule[] } | null;
}

function missingPins(pins: TcpTuningPins): Change[] {
  const out: Change[] = [];
  for (const name of ["prog", "ruleset", "counters"] as const) {
    if (pins[name]) continue;
    out.push({
      path: name,
      before: "missing",
      after: "pinned",
      reason: `the ${name} pin is missing, so the resource must be rebuilt`,
      hitless: false,
      forcesReplace: true,
    });
  }
  return out;
}

/** What the diff reads: the upgraded `extra` (a cgroup it could not read shows as "?"). */
type TtObserved = Observed<TcpTuningState, TcpTuningMetaExtra>;

function linkChanges(observed: TtObserved, desired: TcpTuningDesired): Change[] {
  const link = observed.state.link;
  const want = `${desired.cgroup} (id ${desired.cgroupId})`;
  if (!link || link.cgroupId === "0") {
    const before = link ? "detached" : "missing";
    return [{
      path: "link",
      before,
      after: `attached to ${want}`,
      reason: `the cgroup link is ${before}: no connection is being tuned`,
      hitless: true,
    }];
  }
  if (link.cgroupId !== desired.cgroupId) {
    const oldPath = observed.meta?.extra.cgroup ?? "?";
    return [{
      path: "cgroup",
      before: `${oldPath} (id ${link.cgroupId})`,
      after: want,
      reason: "the cgroup changed: the new cgroup is attached before the old one is detached",
      hitless: true,
    }];
  }
  return [];
}

function programActions(observed: TtObserved, desired: TcpTuningDesired): TtAction[] {
  const { link, program } = observed.state;
  const old = observed.meta?.objectHash ?? "";
  if (old !== desired.objectHash) {
    return [{
      op: "load-program",
      change: {
        path: "program",
        before: old.slice(0, 12),
        after: desired.objectHash.slice(0, 12),
        reason: "a new build of the sock_ops program: swapped atomically on the link",
        hitless: true,
      },
    }];
  }
  if (link && program && link.cgroupId !== "0" && link.progId !== program.id) {
    return [{
      op: "swap-program",
      change: {
        path: "program",
        before: `prog id ${link.progId}`,
        after: `prog id ${program.id}`,
        reason: "the link runs a program other than the pinned one: swapped back atomically",
        hitless: true,
      },
    }];
  }
  return [];
}

function fieldPaths(value: unknown, prefix: string, out: Map<string, string>): void {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) fieldPaths(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (value !== undefined) {
    out.set(prefix, canonicalJson(value));
  }
}

/**
 * The dotted fields in which two rules differ, e.g. `["set.synRtoMs"]`.
 *
 * @example Naming the field that changed
 * ```ts
 * ruleFieldsDiffering(
 *   { match: {}, set: { synRtoMs: 20 }, sample: 1 },
 *   { match: {}, set: { synRtoMs: 30 }, sample: 1 },
 * ); // ["set.synRtoMs"]
 * ```
 */
export function ruleFieldsDiffering(a: TcpRule, b: TcpRule): string[] {
  const [fa, fb] = [new Map<string, string>(), new Map<string, string>()];
  fieldPaths(a, "", fa);
  fieldPaths(b, "", fb);
  const keys = new Set([...fa.keys(), ...fb.keys()]);
  return [...keys].filter((k) => fa.get(k) !== fb.get(k)).sort();
}

function ruleChanges(kernel: TcpRule[], desired: TcpRule[]): Change[] {
  const out: Change[] = [];
  for (let i = 0; i < Math.max(kernel.length, desired.length); i++) {
    const [before, after] = [kernel[i], desired[i]];
    if (before && after && canonicalJson(before) === canonicalJson(after)) continue;
    const reason = !before
      ? "rule added"
      : !after
      ? "rule removed"
      : `rule differs in ${ruleFieldsDiffering(before, after).join(", ")}`;
    out.push({
      path: `rules[${i}]`,
      before,
      after,
      reason: `${reason} (the rule list is replaced in one map update)`,
      hitless: true,
    });
  }
  return out;
}

function rulesetChanges(state: TcpTuningState, desired: TcpTuningDesired): Change[] {
  if (!state.ruleset) {
    return [{
      path: "rules",
      before: "missing",
      after: `${desired.rules.length} rule(s)`,
      reason: "the ruleset map has no element: the program tunes nothing",
      hitless: true,
    }];
  }
  const out = ruleChanges(state.ruleset.rules, desired.rules);
  if (state.ruleset.hz !== desired.hz) {
    out.push({
      path: "hz",
      before: state.ruleset.hz,
      after: desired.hz,
      reason: "the ruleset's jiffies rate differs from the kernel's CONFIG_HZ",
      hitless: true,
    });
  }
  return out;
}

/**
 * The operation that carries out a change: build the whole resource (create
 * or replace), attach a new link before the old one goes, load a new build
 * on the pinned maps, swap the pinned program back onto the link, or write
 * the rule list (one map update).
 */
export type TtOp = "build" | "attach-link" | "load-program" | "swap-program" | "write-rules";

/** One change and the operation that carries it out. */
export interface TtAction {
  change: Change;
  op: TtOp;
}

const as = (op: TtOp) => (change: Change): TtAction => ({ change, op });

/**
 * The actions that turn the kernel's TcpTuning into the desired one: what
 * the plan shows (`change`) paired with what apply does (`op`).
 *
 * @example A new program build
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Observed, TcpTuningDesired, TcpTuningMetaExtra, TcpTuningState } from "../../mod.ts";
 *
 * function ops(observed: Observed<TcpTuningState, TcpTuningMetaExtra>, desired: TcpTuningDesired) {
 *   return tcpTuningActions(observed, desired).map((a) => a.op); // ["load-program"]
 * }
 * ```
 */
export function tcpTuningActions(
  observed: TtObserved | null,
  desired: TcpTuningDesired,
): TtAction[] {
  if (!observed || !observed.meta || !observed.state) {
    return [
      as("build")({
        path: "",
        after: `sock_ops on ${desired.cgroup} with ${desired.rules.length} rule(s)`,
        reason: observed ? "unfinished resource: rebuilt" : "declared but not deployed",
        hitless: true,
      }),
    ];
  }
  const missing = missingPins(observed.state.pins);
  if (missing.length) return missing.map(as("build"));
  return [
    ...linkChanges(observed, desired).map(as("attach-link")),
    ...programActions(observed, desired),
    ...rulesetChanges(observed.state, desired).map(as("write-rules")),
  ];
}

/**
 * The changes that turn the kernel's TcpTuning into the desired one.
 *
 * @example A rule edited in the stack
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Observed, TcpTuningDesired, TcpTuningMetaExtra, TcpTuningState } from "../../mod.ts";
 *
 * function changes(observed: Observed<TcpTuningState, TcpTuningMetaExtra>, desired: TcpTuningDesired) {
 *   return diffTcpTuning(observed, desired);
 *   // [{ path: "rules[0]", reason: "rule differs in set.synRtoMs (...)", hitless: true }]
 * }
 * ```
 */
export function diffTcpTuning(
  observed: TtObserved | null,
  desired: TcpTuningDesired,
): Change[] {
  return tcpTuningActions(observed, desired).map((a) => a.change);
}
