/**
 * Stack file for the CLI runs of the SocketLookupRedirect benchmarks
 * (`main.ts plan -s bench/stacks/slr_bindings.ts`). The lab passes its netns
 * and the binding count through the environment.
 *
 * @module
 */
import { slrBenchStack } from "../slr_stack.ts";

const netns = Deno.env.get("SF_BENCH_NETNS");
if (!netns) throw new Error("SF_BENCH_NETNS is not set: this stack file is run by bench/run.ts");

/** `SF_BENCH_BINDINGS` bindings (default 10,000) in the netns `SF_BENCH_NETNS`. */
export default slrBenchStack(netns, Number(Deno.env.get("SF_BENCH_BINDINGS") ?? 10_000));
