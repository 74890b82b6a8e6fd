/**
 * The pure diff for PolicyChain: pins, one tcx link per device and hook, the
 * program build and the rules, each change with its reason, whether it is
 * hitless, and the operation apply runs for it.
 *
 * @module
 */
import type { Change, Observed } from "../../engine/types.ts";
import { canonicalJson } from "../../engine/hash.ts";
import { field } from "../../engine/meta.ts";
import type { KernelRule } from "./compile.ts";
import { linkActions } from "./link_actions.ts";

/** A hook: tc `ingress` / `egress`, or `xdp` (received frames, on an XDP link). */
export type Hook = "ingress" | "egress" | "xdp";

/** One link the chain wants: its pin name, device and hook. */
export interface DesiredLink {
  /** Pin name inside the resource directory: `link-<hook>-<dev>` (tcx, xdp) or `tc-<hook>-<dev>` (tc). */
  pin: string;
  /** The device's name. */
  dev: string;
  /** Its ifindex in the chain's netns. */
  ifindex: number;
  /** The hook. */
  hook: Hook;
}

/** The desired kernel state, as the driver resolves it from the spec. */
export interface PolicyChainDesired {
  /** The netns path (null: the caller's). */
  netns: string | null;
  /** The netns inode, decimal: the netns the links must live in. */
  netnsIno: string;
  /** How the programs attach: tcx links (6.6+) or classic tc filters. */
  mode: "tcx" | "tc";
  /** One link per device and hook. */
  links: DesiredLink[];
  /** The rules with devices as ifindexes, in match order. */
  rules: KernelRule[];
  /** sha256 of the BPF object to run. */
  objectHash: string;
  /** sha256 of the normalised spec. */
  specHash: string;
}

/** `ResourceMeta.extra` of a PolicyChain: the netns its links were made in. */
export type PolicyChainMetaExtra = { netns: string | null; netnsIno: string | null };

/**
 * Reads the `extra` any sockform wrote.
 *
 * @example
 * ```ts
 * upgradePolicyChainExtra({ netns: "/run/netns/edge", netnsIno: "4026532" }, 1).netnsIno; // "4026532"
 * ```
 */
export function upgradePolicyChainExtra(extra: unknown, _schema: number): PolicyChainMetaExtra {
  const text = (name: string) => {
    const v = field(extra, name);
    return typeof v === "string" ? v : null;
  };
  return { netns: text("netns"), netnsIno: text("netnsIno") };
}

/** A pinned link as read back; `ifindex` is 0 once detached. */
export interface ObservedLink {
  /** Its pin name. */
  pin: string;
  /** The link id (0 when the pin holds no link). */
  id: number;
  /** The program it runs. */
  progId: number;
  /** The device, 0 once detached. */
  ifindex: number;
  /** Its hook (null when not a tcx or XDP link). */
  hook: Hook | null;
  /** tc path: filters of ours left by an interrupted apply (their program ids). */
  stale?: number[];
}

/** What the driver reads back from the kernel. Plain JSON. */
export interface PolicyChainState {
  /** Which of the fixed pins exist (and hold a map of the right shape). */
  pins: {
    ingress: boolean;
    egress: boolean;
    xdp: boolean;
    ruleset: boolean;
    counters: boolean;
    flows: boolean;
  };
  /** Ids of the pinned programs (null when missing). */
  programs: Record<Hook, number | null>;
  /** Every `link-*` pin. */
  links: ObservedLink[];
  /** The ruleset element, decoded (null when missing). */
  rules: KernelRule[] | null;
}

/** The operation that carries out a change. */
export type PcOp =
  | "build"
  | "attach-link"
  | "detach-link"
  | "load-program"
  | "swap-program"
  | "write-rules";

/** One change and the operation that carries it out. */
export interface PcAction {
  change: Change;
  op: PcOp;
  /** The link pin the operation is for (link operations only). */
  pin?: string;
}

type PcObserved = Observed<PolicyChainState, PolicyChainMetaExtra>;

function missingPins(
  state: PolicyChainState,
  meta: { extra: PolicyChainMetaExtra; objectHash: string },
  d: PolicyChainDesired,
): PcAction[] {
  // A build from before chain_xdp has no xdp pin; its new build (a program swap) pins one.
  const xdpPinExpected = meta.objectHash === d.objectHash;
  const extra = meta.extra;
  const out: PcAction[] = [];
  for (const name of ["ingress", "egress", "xdp", "ruleset", "counters"] as const) {
    if (state.pins[name] || (name === "xdp" && !xdpPinExpected)) continue;
    out.push({
      op: "build",
      change: {
        path: name,
        before: "missing",
        after: "pinned",
        reason: `the ${name} pin is missing, so the resource must be rebuilt`,
        hitless: false,
        forcesReplace: true,
      },
    });
  }
  if (extra && extra.netnsIno !== d.netnsIno) {
    out.push({
      op: "build",
      change: {
        path: "netns",
        before: extra.netns ?? "(caller's)",
        after: d.netns ?? "(caller's)",
        reason: "the netns changed: the chain is rebuilt there",
        hitless: false,
        forcesReplace: true,
      },
    });
  }
  return out;
}

function programActions(observed: PcObserved, desired: PolicyChainDesired): PcAction[] {
  const old = observed.meta?.objectHash ?? "";
  if (old === desired.objectHash && !observed.state?.pins.flows) {
    // Flow entries are records, not state: only the pin's absence is a change.
    return [{
      op: "load-program",
      change: {
        path: "flows",
        before: "missing",
        after: "pinned",
        reason:
          "the flows pin is missing: the programs are reloaded on a new flows map and swapped atomically",
        hitless: true,
      },
    }];
  }
  if (old === desired.objectHash) return [];
  return [{
    op: "load-program",
    change: {
      path: "program",
      before: old.slice(0, 12),
      after: desired.objectHash.slice(0, 12),
      reason: "a new build of the chain programs: swapped atomically on every link, maps kept",
      hitless: true,
    },
  }];
}

/** What the plan says wherever stripAddAddr comes into force. */
const FALLBACK_WARNING =
  "; WARNING: stripAddAddr will push the MPTCP connections it matches back to plain TCP";

function ruleActions(kernel: KernelRule[] | null, desired: KernelRule[]): PcAction[] {
  const as = (change: Change): PcAction => ({ op: "write-rules", change });
  if (!kernel) {
    return [as({
      path: "rules",
      before: "missing",
      after: `${desired.length} rule(s)`,
      reason: "the ruleset map has no element: the chain acts on nothing",
      hitless: true,
    })];
  }
  const out: PcAction[] = [];
  for (let i = 0; i < Math.max(kernel.length, desired.length); i++) {
    const [before, after] = [kernel[i], desired[i]];
    if (before && after && canonicalJson(before) === canonicalJson(after)) continue;
    const what = !before ? "rule added" : !after ? "rule removed" : "rule changed";
    out.push(as({
      path: `rules[${i}]`,
      before,
      after,
      reason:
        `${what} (hitless: the whole rule set is swapped in one map update, no program reload)${
          after?.act.stripAddAddr ? FALLBACK_WARNING : ""
        }`,
      hitless: true,
    }));
  }
  return out;
}

/**
 * The actions that turn the kernel's PolicyChain into the desired one.
 *
 * @example A rule edited in the stack
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Observed, PolicyChainDesired, PolicyChainMetaExtra } from "../../mod.ts";
 *
 * function ops(observed: Observed<PolicyChainState, PolicyChainMetaExtra>, desired: PolicyChainDesired) {
 *   return policyChainActions(observed, desired).map((a) => a.op); // ["write-rules"]
 * }
 * ```
 */
export function policyChainActions(
  observed: PcObserved | null,
  desired: PolicyChainDesired,
): PcAction[] {
  if (!observed || !observed.meta || !observed.state) {
    const hooks = desired.links.map((l) =>
      l.hook === "xdp" ? `${l.dev}/xdp (xdp link)` : `${l.dev}/${l.hook}`
    );
    return [{
      op: "build",
      change: {
        path: "",
        after: `${desired.mode} on ${hooks.join(", ")} with ${desired.rules.length} rule(s)`,
        reason: (observed ? "unfinished resource: rebuilt" : "declared but not deployed") +
          (desired.rules.some((r) => r.act.stripAddAddr) ? FALLBACK_WARNING : ""),
        hitless: true,
      },
    }];
  }
  const missing = missingPins(observed.state, observed.meta, desired);
  if (missing.length) return missing;
  return [
    ...ruleActions(observed.state.rules, desired.rules),
    ...programActions(observed, desired),
    ...linkActions(observed.state, desired),
  ];
}

/**
 * The changes that turn the kernel's PolicyChain into the desired one.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { PolicyChainDesired } from "../../mod.ts";
 *
 * function createReason(desired: PolicyChainDesired): string {
 *   return diffPolicyChain(null, desired)[0].reason; // "declared but not deployed"
 * }
 * ```
 */
export function diffPolicyChain(
  observed: PcObserved | null,
  desired: PolicyChainDesired,
): Change[] {
  return policyChainActions(observed, desired).map((a) => a.change);
}
