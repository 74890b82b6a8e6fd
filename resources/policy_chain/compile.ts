/**
 * PolicyChain rules in the form the kernel map holds them: devices as
 * ifindexes. Pure; the driver's codec decodes the map into the same form, so
 * the diff compares like with like.
 *
 * @module
 */
import type { Actions, Clause, PolicyRule } from "./schema.ts";

/** A clause as the kernel holds it: `dev` resolved to its ifindex in the chain's netns. */
export type KernelClause = Omit<Clause, "dev"> & { ifindex?: number };

/** A rule as the kernel holds it. */
export interface KernelRule {
  /** Its any-of alternatives, in order. */
  clauses: KernelClause[];
  /** Its actors. */
  act: Actions;
}

/**
 * Resolves each clause's `dev` to its ifindex.
 *
 * @example A rule on one device
 * ```ts
 * compileRules([{ clauses: [{ dev: "eth1", mptcp: ["join"] }], act: { drop: true } }], { eth1: 4 });
 * // [{ clauses: [{ ifindex: 4, mptcp: ["join"] }], act: { drop: true } }]
 * ```
 */
export function compileRules(
  rules: readonly PolicyRule[],
  ifindexOf: Readonly<Record<string, number>>,
): KernelRule[] {
  return rules.map((rule) => ({
    clauses: rule.clauses.map(({ dev, ...rest }) => {
      if (dev === undefined) return rest;
      const ifindex = ifindexOf[dev];
      if (ifindex === undefined) throw new Error(`dev ${dev} has no ifindex`);
      return { ...rest, ifindex };
    }),
    act: rule.act,
  }));
}
