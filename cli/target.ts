/**
 * Terraform's `-target` on plan and apply: the single-dash spelling and the
 * warning Terraform prints when resource targeting is in effect.
 *
 * @module
 */

/** Terraform's warning for a targeted plan (printed on stderr: stdout may be plan JSON). */
export const TARGET_WARNING = [
  "Warning: Resource targeting is in effect",
  "",
  "You are creating a plan with the -target option, which means that the result of this plan",
  "may not represent all of the changes requested by the current configuration.",
  "",
  "The -target option is not for routine use, and is provided only for exceptional situations",
  "such as recovering from errors or mistakes.",
].join("\n");

/**
 * Rewrites Terraform's `-target ADDR` and `-target=ADDR` to `--target`, which
 * commander parses (it would read `-target` as the short flags `-t -a -r …`).
 *
 * @example
 * ```ts
 * terraformFlags(["plan", "-target=SocketLookupRedirect.web"]); // ["plan", "--target=…"]
 * ```
 */
export function terraformFlags(args: readonly string[]): string[] {
  return args.map((a) => a === "-target" || a.startsWith("-target=") ? `-${a}` : a);
}

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
