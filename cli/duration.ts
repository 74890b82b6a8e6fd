/**
 * Go/Terraform durations for `--lock-timeout`: `0s`, `500ms`, `10s`, `1m30s`, `2h`.
 *
 * @module
 */
import { UserError } from "../engine/errors.ts";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration as Terraform's `-lock-timeout` takes it, to milliseconds.
 * A bare `0` is accepted (Go accepts it too); any other number needs a unit.
 *
 * @example Ninety seconds
 * ```ts
 * parseDuration("1m30s"); // 90000
 * ```
 */
export function parseDuration(text: string): number {
  if (text === "0") return 0;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (!parts.length || parts.map((p) => p[0]).join("") !== text) {
    throw new UserError(`invalid duration "${text}": use e.g. 0s, 500ms, 10s, 1m30s`);
  }
  return Math.round(parts.reduce((ms, p) => ms + Number(p[1]) * UNIT_MS[p[2]], 0));
}
