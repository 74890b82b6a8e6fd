/**
 * Canonical JSON and hashing, so equal specs hash equally whatever their key order.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** JSON with object keys sorted at every depth; bigint becomes a decimal string. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/**
 * sha256 (hex) of the canonical JSON of `value`.
 *
 * @example
 * ```ts
 * hashJson({ b: 1, a: 2 }) === hashJson({ a: 2, b: 1 }); // true
 * ```
 */
export function hashJson(value: unknown): string {
  const memoable = value !== null && typeof value === "object";
  const known = memoable ? memo.get(value) : undefined;
  if (known) return known;
  const digest = createHash("sha256").update(canonicalJson(value)).digest("hex");
  if (memoable) memo.set(value, digest);
  return digest;
}

// Specs are hashed by the engine and again by drivers; a 10,000-binding spec
// costs milliseconds to canonicalise. Callers treat hashed values as frozen.
const memo = new WeakMap<object, string>();
