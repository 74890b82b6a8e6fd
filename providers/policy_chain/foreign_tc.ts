/**
 * Classic tc filters on the clsact hooks a PolicyChain uses that are not
 * its own (a `tc filter add dev X ingress bpf ...`, a u32 or flower filter),
 * listed in the plan as foreign and never touched, with their place in the
 * run order: tcx links run before every classic filter; among classic
 * filters the lower `pref` runs first. Ours is added without a pref, so the
 * kernel gives it 49152: filters with a lower pref run before it (a packet
 * they drop never reaches the chain), higher ones after (the chain returns
 * TC_ACT_UNSPEC, so they still see what it lets through).
 *
 * @module
 */
import type { DesiredLink } from "../../resources/policy_chain.ts";
import type { ForeignProgram, ResourceRef } from "../../engine/types.ts";
import { tc } from "./tc.ts";
import { pinnedProgId } from "./kernel.ts";

/** One classic filter on a hook, any classifier kind. */
export interface ClassicFilter {
  /** Its priority: lower runs first. */
  pref: number;
  /** The classifier: `bpf`, `u32`, `flower`, `matchall`, ... */
  kind: string;
  /** The eBPF program a `bpf` filter runs (null: another kind, or classic BPF bytecode). */
  progId: number | null;
  /** That program's name ("" when none). */
  progName: string;
}

type Row = {
  pref: number;
  kind: string;
  options?: { prog?: { id: number; name?: string } };
};

/**
 * Every filter on a device's clsact hook (empty when the device or the qdisc is missing).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function onEth1(): void {
 *   classicFilters("/run/netns/edge", "eth1", "ingress"); // [{ pref: 10, kind: "u32", progId: null, progName: "" }]
 * }
 * ```
 */
export function classicFilters(
  netns: string | null,
  dev: string,
  hook: "ingress" | "egress",
): ClassicFilter[] {
  let text: string;
  try {
    text = tc(netns, ["-j", "filter", "show", "dev", dev, hook]);
  } catch (e) {
    if (/Cannot find device|No such device/.test(String(e))) return [];
    throw e;
  }
  // tc prints a head row per pref and kind, then one row with options per filter.
  const rows = (JSON.parse(text || "[]") as Row[]).filter((r) => r.options);
  return rows.map((r) => ({
    pref: r.pref,
    kind: r.kind,
    progId: r.options?.prog?.id ?? null,
    progName: r.options?.prog?.name ?? "",
  }));
}

function describe(f: ClassicFilter, mode: "tcx" | "tc", ourPref: number | undefined) {
  const what = `${f.kind} filter pref ${f.pref}`;
  if (mode === "tcx") {
    return {
      runs: "after" as const,
      effect:
        `${what}: tcx runs before classic tc, so it sees only the packets the chain lets through`,
    };
  }
  if (ourPref === undefined || ourPref === f.pref) {
    return { runs: "unknown" as const, effect: `${what}: our filter is missing, order unknown` };
  }
  return f.pref < ourPref
    ? {
      runs: "before" as const,
      effect:
        `${what} runs before ours (pref ${ourPref}): a packet it drops or redirects never reaches the chain`,
    }
    : {
      runs: "after" as const,
      effect:
        `${what} runs after ours (pref ${ourPref}): it sees only the packets the chain lets through`,
    };
}

/**
 * The classic tc filters other than the chain's own on each tc hook it uses.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ResourceRef } from "../../engine/types.ts";
 *
 * function foreignFilters(ref: ResourceRef) {
 *   const link = { dev: "eth1", ifindex: 4, hook: "ingress" as const, pin: "tc-ingress-eth1" };
 *   return foreignClassicFilters(ref, "/run/netns/edge", [link], "tc");
 * }
 * ```
 */
export function foreignClassicFilters(
  ref: ResourceRef,
  netns: string | null,
  links: readonly DesiredLink[],
  mode: "tcx" | "tc",
): ForeignProgram[] {
  const out: ForeignProgram[] = [];
  for (const l of links) {
    if (l.hook === "xdp") continue;
    const filters = classicFilters(netns, l.dev, l.hook);
    const ours = mode === "tc" ? pinnedProgId(`${ref.dir}/${l.pin}`) : null;
    const ourPref = filters.find((f) => ours !== null && f.progId === ours)?.pref;
    for (const f of filters) {
      if (ours !== null && f.progId === ours) continue;
      const { runs, effect } = describe(f, mode, ourPref);
      out.push({
        hook: `tc ${l.hook}`,
        target: `dev ${l.dev}${netns ? ` in ${netns}` : ""}`,
        progId: f.progId ?? 0,
        linkId: null,
        name: f.progName || `${f.kind} filter pref ${f.pref}`,
        tag: "",
        owner: null,
        runs,
        canOverride: runs !== "after",
        effect,
      });
    }
  }
  return out;
}
