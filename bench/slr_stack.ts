/**
 * The stack both SocketLookupRedirect benchmarks use: `count` TCP bindings,
 * one /32 each (10.0.0.0, 10.0.0.1, … inside 10.0.0.0/16, port 8080), all to
 * one destination, a listener on one of those addresses.
 *
 * @module
 */
import { SocketLookupRedirect, Stack } from "../mod.ts";

/** The port every binding names. */
export const BENCH_PORT = 8080;
/** The prefix the bound addresses come from; the lab puts it on `lo`. */
export const BENCH_SUBNET = "10.0.0.0/16";
/** Stack and resource names, so the state directory is `<root>/bench/slr`. */
export const BENCH_STACK = "bench";
/** The resource name inside the stack. */
export const BENCH_RESOURCE = "slr";

/** The address of binding `i` (0 ≤ i < 65536). */
export function boundAddress(i: number): string {
  return `10.0.${i >> 8}.${i & 255}`;
}

/** Where the listener sits: the middle binding, so it is one entry among many in the trie. */
export function listenerAddress(count: number): string {
  return boundAddress(count >> 1);
}

/**
 * The bindings of the benchmark stack, as written in a spec.
 *
 * @example
 * ```ts
 * slrBenchBindings(2)[1]; // { protocol: "tcp", prefix: "10.0.0.1/32", ports: 8080, to: "web" }
 * ```
 */
export function slrBenchBindings(count: number) {
  if (!(count >= 1 && count <= 65536)) throw new Error(`binding count ${count} is not 1–65536`);
  return Array.from({ length: count }, (_, i) => ({
    protocol: "tcp" as const,
    prefix: `${boundAddress(i)}/32`,
    ports: BENCH_PORT,
    to: "web",
  }));
}

/**
 * Builds the benchmark stack. With `listenerBindingOnly`, only the binding of
 * the listener's own address is declared (same listener, same program): for
 * filling the other entries straight into the map when validating them all
 * would take too long.
 *
 * @example 10,000 bindings in a lab netns
 * ```ts
 * const stack = slrBenchStack("/run/netns/sf-bench-1a2b3c", 10_000);
 * ```
 */
export function slrBenchStack(
  netns: string,
  count: number,
  opts: { listenerBindingOnly?: boolean } = {},
): Stack {
  const all = slrBenchBindings(count);
  const bindings = opts.listenerBindingOnly ? [all[count >> 1]] : all;
  return new Stack(BENCH_STACK, [
    new SocketLookupRedirect(BENCH_RESOURCE, {
      netns,
      bindings,
      destinations: { web: { listener: `tcp://${listenerAddress(count)}:${BENCH_PORT}` } },
    }),
  ]);
}
