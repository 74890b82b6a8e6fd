/**
 * Rates as stacks write them: bytes per second as an integer, or a string in
 * tc's bit units (`"20mbit"`), normalised to bytes per second. TcpTuning's
 * `maxPacingRate` and the Scheduler's `failover.when.sendRateBelow` share it.
 *
 * @module
 */
import { z } from "../../deps.ts";

const RATE = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/;
const RATE_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };

/**
 * A rate field: an integer of bytes/s, or `"<n>bit|kbit|mbit|gbit"` (per
 * second), parsed to bytes/s (rounded). Range checks are the caller's
 * (`.pipe(...)`), since each field has its own bounds.
 *
 * @example
 * ```ts
 * rateInBytes("sendRateBelow").parse("2mbit"); // 250000
 * ```
 */
export function rateInBytes(field: string) {
  return z.union([
    z.number().int(`${field} in bytes/s must be an integer`),
    z.string().regex(RATE, 'rates look like "20mbit" (bit, kbit, mbit, gbit per second)'),
  ]).transform((v) => {
    if (typeof v === "number") return v;
    const [, num, unit] = RATE.exec(v)!;
    return Math.round((Number(num) * RATE_UNITS[unit]) / 8);
  });
}
