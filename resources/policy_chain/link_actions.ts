/**
 * PolicyChain's link actions: one link (tcx, classic tc filter or XDP) per declared device and
 * hook, each with its reason and hitless flag. Split from diff.ts, which combines them with the
 * pin, program and rule actions.
 *
 * @module
 */
import type {
  DesiredLink,
  ObservedLink,
  PcAction,
  PolicyChainDesired,
  PolicyChainState,
} from "./diff.ts";

/** What attaches a link and where: an XDP link, or per the chain's tc mode a tcx link or tc filter. */
function hookType(l: DesiredLink, mode: PolicyChainDesired["mode"]): string {
  if (l.hook === "xdp") return "xdp link";
  return `${mode === "tcx" ? "tcx link" : "tc filter"} ${l.hook}`;
}

function newLinkReason(want: DesiredLink): string {
  if (want.hook === "xdp") {
    return `a new XDP link on ${want.dev}: received frames meet the chain before tc and the skb (drop and record only); a device that already has an XDP program refuses it`;
  }
  return `a new link: the chain runs last on ${want.dev}'s ${want.hook} hook, after any program already there`;
}

function wantedLinkAction(
  state: PolicyChainState,
  want: DesiredLink,
  mode: PolicyChainDesired["mode"],
): PcAction | null {
  const have = state.links.find((l) => l.pin === want.pin);
  const path = `attach.${want.dev}.${want.hook}`;
  const prog = state.programs[want.hook];
  if (!have || have.ifindex !== want.ifindex) {
    const before = !have ? "missing" : have.ifindex === 0 ? "detached" : `ifindex ${have.ifindex}`;
    const reason = !have
      ? newLinkReason(want)
      : `the link is ${before}: ${want.dev}'s ${want.hook} packets bypass the chain`;
    const after = `${hookType(want, mode)} on ${want.dev} (ifindex ${want.ifindex})`;
    return {
      op: "attach-link",
      pin: want.pin,
      change: { path, before, after, reason, hitless: true },
    };
  }
  if (prog === null || have.progId === prog) return null;
  return {
    op: "swap-program",
    pin: want.pin,
    change: {
      path,
      before: `prog id ${have.progId}`,
      after: `prog id ${prog}`,
      reason: "the link runs a program other than the pinned one: swapped back atomically",
      hitless: true,
    },
  };
}

function staleAction(have: ObservedLink): PcAction {
  return {
    op: "swap-program",
    pin: have.pin,
    change: {
      path: `attach.${have.pin}`,
      before: `stale filters (prog ids ${have.stale!.join(", ")})`,
      after: "removed",
      reason: "an interrupted apply left filters running old programs: they are removed",
      hitless: true,
    },
  };
}

/**
 * The link changes: each declared device/hook attached and running the pinned program, stale
 * filters of an interrupted apply removed, undeclared links detached.
 *
 * @example A declared egress link that is missing is attached
 * ```ts
 * const link = { pin: "link-egress-eth1", dev: "eth1", ifindex: 3, hook: "egress" as const };
 * const [action] = linkActions(
 *   {
 *     pins: { ingress: true, egress: true, xdp: true, ruleset: true, counters: true, flows: true },
 *     programs: { ingress: 11, egress: 12, xdp: null },
 *     links: [],
 *     rules: null,
 *   },
 *   {
 *     netns: null, netnsIno: "1", mode: "tcx", links: [link], rules: [], objectHash: "", specHash: "",
 *   },
 * );
 * // action.op === "attach-link", action.change.after === "tcx link egress on eth1 (ifindex 3)"
 * ```
 */
export function linkActions(state: PolicyChainState, desired: PolicyChainDesired): PcAction[] {
  const out = desired.links.flatMap((want) => wantedLinkAction(state, want, desired.mode) ?? []);
  for (const have of state.links) {
    if (have.stale?.length && !out.some((a) => a.pin === have.pin)) out.push(staleAction(have));
    if (desired.links.some((l) => l.pin === have.pin)) continue;
    out.push({
      op: "detach-link",
      pin: have.pin,
      change: {
        path: `attach.${have.pin}`,
        before: "attached",
        after: undefined,
        reason: "no longer declared: the link is removed",
        hitless: true,
      },
    });
  }
  return out;
}
