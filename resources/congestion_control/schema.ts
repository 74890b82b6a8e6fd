/**
 * The CongestionControl spec: which BPF congestion control to register, one
 * sockform ships or a user's object.
 *
 * @module
 */
import { z } from "../../deps.ts";

/** The congestion controls sockform ships, by spec name → the name they register. */
export const SHIPPED_CONGESTION_CONTROLS = { sfReno: "sf_reno" } as const;

/** The raw (user) shape of a CongestionControl spec. */
export const congestionControlSchema: z.ZodType<CongestionControlSpec> = z.object({
  /**
   * `"sfReno"` (TCP Reno written for sockform, registered as `sf_reno`) or a
   * compiled object `{ object: "./my_cc.bpf.o" }` with one `tcp_congestion_ops`
   * struct_ops map; it registers under that struct's `name`.
   */
  program: z.union([
    z.literal("sfReno"),
    z.object({ object: z.string().min(1, "object is the path of a .bpf.o file") }).strict(),
  ], { error: 'program is "sfReno" or { object: "path/to/cc.bpf.o" }' }),
}).strict();

/**
 * A validated CongestionControl spec (an object path is absolute once declared).
 *
 * @example The shipped Reno
 * ```ts
 * const spec: CongestionControlSpec = { program: "sfReno" };
 * ```
 */
export interface CongestionControlSpec {
  /** `"sfReno"` or `{ object }`, the path of a compiled congestion control. */
  program: "sfReno" | { object: string };
}

/**
 * What a stack file writes: a relative object path is relative to the stack file.
 *
 * @example A user's object next to the stack file
 * ```ts
 * const input: CongestionControlSpecInput = { program: { object: "./my_cc.bpf.o" } };
 * ```
 */
export type CongestionControlSpecInput = CongestionControlSpec;
