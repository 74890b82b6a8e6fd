/**
 * An empty stack: `plan` of it measures the CLI's own start-up (Deno, module
 * graph, FFI, state-root checks) with nothing to read or diff.
 *
 * @module
 */
import { Stack } from "../../mod.ts";

/** No resources. */
export default new Stack("bench-empty", []);
