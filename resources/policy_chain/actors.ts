/**
 * PolicyChain actors: what a rule does to the packets it matches, as users
 * write them and in the normal form (one `Actions` object per rule).
 *
 * @module
 */
import { z } from "../../deps.ts";

/**
 * An actor as users write it. `clampWindow` caps the receive window the
 * chain's side advertises, on every subflow of the matched connection (egress
 * hooks only). `stripAddAddr` overwrites ADD_ADDR options with NOPs, which
 * pushes MPTCP connections back to plain TCP, so it needs `allowFallback: true`
 * on the actor or the rule.
 */
export type ActorInput =
  | { drop: true }
  | { mark: number }
  | { record: true | string }
  | { clampWindow: number }
  | { stripAddAddr: true; allowFallback?: true };

/** The smallest and largest window `clampWindow` takes, in bytes. */
export const CLAMP_WINDOW_RANGE = { min: 1024, max: 0xffff << 14 } as const;

/** One actor's schema. */
export const actor = z.union([
  z.strictObject({ drop: z.literal(true) }),
  z.strictObject({ mark: z.number().int().min(0).max(0xffff_ffff, "mark is a 32-bit value") }),
  z.strictObject({ record: z.union([z.literal(true), z.string().min(1).max(64)]) }),
  z.strictObject({
    clampWindow: z.number().int().min(CLAMP_WINDOW_RANGE.min, "clampWindow is at least 1024 bytes")
      .max(CLAMP_WINDOW_RANGE.max, "clampWindow is at most 65535 << 14 bytes"),
  }),
  z.strictObject({ stripAddAddr: z.literal(true), allowFallback: z.literal(true).optional() }),
], {
  error:
    "an actor is { drop: true }, { mark: n }, { record: true | label }, { clampWindow: bytes } or { stripAddAddr: true, allowFallback: true }",
});

/** A rule's actors, normalised into one object. */
export interface Actions {
  /** Drop the packet (TCX_DROP). */
  drop?: true;
  /** Set skb->mark. */
  mark?: number;
  /** Count packets and bytes for this rule (per CPU), and per subflow: payload bytes each way, RTT, MPTCP token (shown by `show`). */
  record?: true;
  /** Cap the advertised receive window of the matched connection, all subflows, in bytes. */
  clampWindow?: number;
  /** Overwrite ADD_ADDR options with NOPs (connections fall back to plain TCP). */
  stripAddAddr?: true;
}

/** stripAddAddr pushes connections back to plain TCP: only with an explicit allowFallback. */
export function requireAllowFallback(
  rule: { act: z.output<typeof actor>[]; allowFallback?: true },
  ctx: z.RefinementCtx,
): void {
  rule.act.forEach((a, i) => {
    if (!("stripAddAddr" in a) || a.allowFallback || rule.allowFallback) return;
    ctx.addIssue({
      code: "custom",
      path: ["act", i, "allowFallback"],
      message:
        "stripAddAddr pushes MPTCP connections back to plain TCP: set allowFallback: true to accept that",
    });
  });
}

/**
 * Folds a rule's actor list into one `Actions` object.
 *
 * @example A clamp and a counter
 * ```ts
 * actionsOf([{ clampWindow: 65535 }, { record: true }]); // { clampWindow: 65535, record: true }
 * ```
 */
export function actionsOf(list: readonly z.output<typeof actor>[]): Actions {
  const act: Actions = {};
  for (const a of list) {
    if ("drop" in a) act.drop = true;
    if ("mark" in a) act.mark = a.mark;
    if ("record" in a) act.record = true;
    if ("clampWindow" in a) act.clampWindow = a.clampWindow;
    if ("stripAddAddr" in a) act.stripAddAddr = true;
  }
  return act;
}
