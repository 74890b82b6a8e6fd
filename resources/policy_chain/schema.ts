/**
 * The PolicyChain spec: zod schema and the normal form rules are compared
 * in. A rule's selector is flattened to its any-of alternatives ("clauses"),
 * each an all-of of conditions, which is also how the kernel map holds it.
 *
 * @module
 */
import { z } from "../../deps.ts";
import { type Cidr, parseCidr } from "../common/cidr.ts";
import { type Actions, actionsOf, actor, type ActorInput, requireAllowFallback } from "./actors.ts";

export type { Actions, ActorInput } from "./actors.ts";
export { CLAMP_WINDOW_RANGE } from "./actors.ts";

/** Rules the kernel map holds. */
export const MAX_RULES = 64;
/** Clauses (any-of alternatives) the kernel map holds, over all rules. */
export const MAX_CLAUSES = 128;

/** MPTCP option subtypes (RFC 8684) by the name selectors use, with their subtype number. */
export const MPTCP_SUBTYPES = {
  capable: 0,
  join: 1,
  dss: 2,
  addAddr: 3,
  removeAddr: 4,
  prio: 5,
  fail: 6,
  fastclose: 7,
  tcpRst: 8,
} as const;

/** An MPTCP option a selector can ask for (`any`: any MPTCP option). */
export type MptcpOption =
  | "capable"
  | "join"
  | "dss"
  | "addAddr"
  | "removeAddr"
  | "prio"
  | "fail"
  | "fastclose"
  | "tcpRst"
  | "any";

/** A port (443) or an inclusive range ("8000-8080"). */
export type PortSelector = number | `${number}-${number}`;

const prefix = z.string().transform((text, ctx) => {
  const cidr = parseCidr(text);
  if ("error" in cidr) {
    ctx.addIssue({ code: "custom", message: cidr.error });
    return z.NEVER;
  }
  return mappedAsIPv4(cidr) ?? cidr.text;
});

function mappedAsIPv4(cidr: Cidr): string | undefined {
  const b = cidr.bytes;
  const mapped = cidr.family === "ipv6" && cidr.length >= 96 && b[10] === 0xff && b[11] === 0xff &&
    b.subarray(0, 10).every((x) => x === 0);
  return mapped ? `${[...b.subarray(12)].join(".")}/${cidr.length - 96}` : undefined;
}

const port = z.union([
  z.number().int().min(1, "ports are 1–65535").max(65535, "ports are 1–65535"),
  z.string().regex(/^\d{1,5}-\d{1,5}$/, 'a port range looks like "8000-8080"'),
], { error: 'a port is a number 1–65535 or a range like "8000-8080"' }).transform((p, ctx) => {
  if (typeof p === "number") return p;
  const [lo, hi] = p.split("-").map(Number);
  if (lo < 1 || hi > 65535 || lo > hi) {
    ctx.addIssue({ code: "custom", message: `port range ${p} needs 1 ≤ lo ≤ hi ≤ 65535` });
  }
  return (lo === hi ? lo : `${lo}-${hi}`) as PortSelector;
});

const mptcpName = z.enum(
  [
    "capable",
    "join",
    "dss",
    "addAddr",
    "removeAddr",
    "prio",
    "fail",
    "fastclose",
    "tcpRst",
    "any",
  ] as const satisfies readonly MptcpOption[],
);

const mptcp = z.union([mptcpName, z.array(mptcpName).min(1)]).transform((v): MptcpOption[] => {
  const names = Array.isArray(v) ? v : [v];
  if (names.includes("any")) return ["any"];
  return [...new Set(names)].sort();
});

const condition = z.strictObject({
  local: prefix.optional(),
  remote: prefix.optional(),
  localPort: port.optional(),
  remotePort: port.optional(),
  dev: z.string().regex(/^[^/\s]{1,15}$/, "dev is an interface name (1–15 chars)").optional(),
  direction: z.enum(["ingress", "egress"]).optional(),
  mptcp: mptcp.optional(),
});

/** One all-of of conditions (a field absent matches everything), normalised. */
export interface Clause {
  /** Local address prefix (the source on egress, the destination on ingress). */
  local?: string;
  /** Remote address prefix. */
  remote?: string;
  /** Local port or range. */
  localPort?: PortSelector;
  /** Remote port or range. */
  remotePort?: PortSelector;
  /** The device the packet is on. */
  dev?: string;
  /** The hook: `ingress` (received) or `egress` (sent). */
  direction?: "ingress" | "egress";
  /** MPTCP options, one of which the packet must carry (sorted; `["any"]` for any). */
  mptcp?: MptcpOption[];
}

/** One all-of of conditions as users write it. */
export interface ClauseInput {
  /** Local address or prefix (the source on egress, the destination on ingress). */
  local?: string;
  /** Remote address or prefix. */
  remote?: string;
  /** Local port (443) or range ("8000-8080"). */
  localPort?: number | string;
  /** Remote port or range. */
  remotePort?: number | string;
  /** A device from `attach`. */
  dev?: string;
  /** `ingress` or `egress`; default both. */
  direction?: "ingress" | "egress";
  /** An MPTCP option or a list (any of them); `any`: any MPTCP option. */
  mptcp?: MptcpOption | MptcpOption[];
}

/** A selector: conditions, optionally combined with all-of and any-of lists. */
export interface ChainSelectorInput extends ClauseInput {
  /** Conditions that must all hold as well. */
  all?: ClauseInput[];
  /** Alternatives: one must hold as well. */
  any?: ClauseInput[];
}

const selectorSchema = condition.extend({
  all: z.array(condition).min(1).optional(),
  any: z.array(condition).min(1).optional(),
});

const ruleSchema = z.strictObject({
  select: selectorSchema.default({}),
  act: z.array(actor).min(1, "a rule needs at least one actor"),
  allowFallback: z.literal(true).optional(),
}).transform((rule, ctx): PolicyRule => {
  requireAllowFallback(rule, ctx);
  const { all, any, ...own } = rule.select;
  let base: Clause = own;
  for (const part of all ?? []) base = mergeClause(base, part, ctx);
  const clauses = (any ?? [{}]).map((alt) => mergeClause(base, alt, ctx));
  return { clauses, act: actionsOf(rule.act) };
});

function mergeClause(a: Clause, b: Clause, ctx: z.RefinementCtx): Clause {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) continue;
    if (k in out && JSON.stringify(out[k]) !== JSON.stringify(v)) {
      ctx.addIssue({
        code: "custom",
        message: `select: ${k} is given twice with different values`,
      });
    }
    out[k] = v;
  }
  return out as Clause;
}

const attachSchema = z.strictObject({
  dev: z.string().regex(/^[^/\s]{1,15}$/, "dev is an interface name (1–15 chars)"),
  hooks: z.array(z.enum(["ingress", "egress", "xdp"])).min(1).transform((h) =>
    [...new Set(h)].sort()
  ),
});

/** The raw (user) shape of a PolicyChain spec. */
export const policyChainSchema = z.strictObject({
  netns: z.string().startsWith("/", "netns must be an absolute path such as /run/netns/lab")
    .optional(),
  attach: z.array(attachSchema).min(1, "attach needs at least one device"),
  via: z.enum(["tcx", "tc"]).optional(),
  rules: z.array(ruleSchema).max(MAX_RULES, `at most ${MAX_RULES} rules (the kernel map's size)`),
}).superRefine((spec, ctx) => {
  const devs = spec.attach.map((a) => a.dev);
  if (new Set(devs).size !== devs.length) {
    ctx.addIssue({ code: "custom", path: ["attach"], message: "a dev is listed twice" });
  }
  const clauses = spec.rules.flatMap((r) => r.clauses);
  if (clauses.length > MAX_CLAUSES) {
    ctx.addIssue({
      code: "custom",
      path: ["rules"],
      message: `${clauses.length} any-of alternatives in all; the kernel map holds ${MAX_CLAUSES}`,
    });
  }
  refuseXdpOverlap(spec.attach, ctx);
  refuseSkbActorsAtXdp(spec, ctx);
  const egress = spec.attach.some((a) => a.hooks.includes("egress"));
  spec.rules.forEach((r, i) => {
    if (!Array.isArray(r.clauses)) return; // its own issues stopped its transform
    if (r.act.clampWindow !== undefined && !egress) {
      ctx.addIssue({
        code: "custom",
        path: ["rules", i, "act"],
        message: "clampWindow rewrites the window of sent packets: attach an egress hook",
      });
    }
    for (const c of r.clauses) {
      if (c.dev && !devs.includes(c.dev)) {
        ctx.addIssue({
          code: "custom",
          path: ["rules", i, "select"],
          message: `dev ${c.dev} is not in attach: the chain never sees its packets`,
        });
      }
    }
  });
});

/** Actors the XDP program runs: they need no skb or socket. */
export const XDP_ACTORS: readonly string[] = ["drop", "record"];

type Attach = { dev: string; hooks: ("ingress" | "egress" | "xdp")[] };

/** XDP and tc ingress on one device would run the chain twice on each received packet. */
function refuseXdpOverlap(attach: Attach[], ctx: z.RefinementCtx) {
  attach.forEach((a, i) => {
    if (!a.hooks.includes("xdp") || !a.hooks.includes("ingress")) return;
    ctx.addIssue({
      code: "custom",
      path: ["attach", i, "hooks"],
      message:
        `${a.dev}: choose xdp or ingress; with both, every received packet meets the chain twice`,
    });
  });
}

/**
 * A rule one of whose alternatives can match on an XDP device (direction
 * not egress, dev absent or an XDP device) may only drop and record: XDP
 * runs before the kernel builds an skb, so there is no mark to set.
 */
function refuseSkbActorsAtXdp(
  spec: { attach: Attach[]; rules: PolicyRule[] },
  ctx: z.RefinementCtx,
) {
  const xdpDevs = spec.attach.filter((a) => a.hooks.includes("xdp")).map((a) => a.dev);
  if (!xdpDevs.length) return;
  spec.rules.forEach((r, i) => {
    if (!Array.isArray(r.clauses)) return; // its own issues stopped its transform
    const atXdp = r.clauses.some((c) =>
      c.direction !== "egress" && (c.dev === undefined || xdpDevs.includes(c.dev))
    );
    const skbActors = Object.keys(r.act).filter((k) => !XDP_ACTORS.includes(k));
    if (!atXdp || !skbActors.length) return;
    ctx.addIssue({
      code: "custom",
      path: ["rules", i, "act"],
      message: `${skbActors.join(", ")} cannot run at XDP (no skb yet) but this rule can match on ${
        xdpDevs.join(", ")
      } (xdp): add direction "egress" or a dev with a tc hook to its select`,
    });
  });
}

/** What users write. */
export interface PolicyChainSpecInput {
  /** The netns of the devices, by path (e.g. `/run/netns/edge`); default: the caller's. */
  netns?: string;
  /**
   * Devices and the hooks the chain runs on there: `ingress` / `egress` (tc),
   * `xdp` (received frames before the skb exists; drop and record only).
   */
  attach: { dev: string; hooks: ("ingress" | "egress" | "xdp")[] }[];
  /** The rules in match order: the first match acts. `allowFallback` accepts stripAddAddr's fallback for the rule. */
  rules: { select?: ChainSelectorInput; act: ActorInput[]; allowFallback?: true }[];
  /** `tcx` links (6.6+) or classic tc `bpf` filters on clsact; default: tcx where the kernel has it. */
  via?: "tcx" | "tc";
}

/** One normalised rule: its any-of alternatives and its actors. */
export interface PolicyRule {
  /** The alternatives; the rule matches when one does. */
  clauses: Clause[];
  /** What it does to the packets it matches. */
  act: Actions;
}

/** The validated, normalised spec. */
export interface PolicyChainSpec {
  /** The netns of the devices, by path; default: the caller's. */
  netns?: string;
  /** Devices and the hooks the chain runs on there. */
  attach: { dev: string; hooks: ("ingress" | "egress" | "xdp")[] }[];
  /** The rules in match order (first match wins). */
  rules: PolicyRule[];
  /** How the programs attach, when the spec chooses. */
  via?: "tcx" | "tc";
}
