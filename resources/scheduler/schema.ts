/**
 * The Scheduler spec: which MPTCP scheduler new connections of a netns use,
 * the role of each declared path, and an optional failover rule. Cross-field
 * rules (duplicate paths, `promote` naming a path) are reported with their
 * field paths.
 *
 * @module
 */
import { z } from "../../deps.ts";
import { canonicalAddress, inetFamily } from "../common/inet.ts";
import { rateInBytes } from "../common/rate.ts";
import type { SchedulerPathSpec, SchedulerSpec, SchedulerSpecInput } from "./spec.ts";

/** The BPF MPTCP schedulers sockform ships, by the name a stack declares. */
export const SHIPPED_SCHEDULER_NAMES = ["roundRobin", "redundant", "backupFirst"] as const;

const objectSchema = z.strictObject({
  /** Path of a compiled BPF object holding a `mptcp_sched_ops` struct_ops map. */
  object: z.string().min(1),
  /** The struct_ops map (the C variable) in the object; absent: its only one. */
  map: z.string().min(1).optional(),
  /** `mptcp_sched_ops.name`: the name the kernel lists it under; absent: read from the object. */
  name: z.string().min(1).max(15).optional(),
});

const matchSchema = z.union([
  z.strictObject({ dev: z.string().min(1).max(15) }),
  z.strictObject({
    local: z.string().refine((s) => inetFamily(s) !== undefined, "not an IP address")
      .transform(canonicalAddress),
  }),
]);

const pathSchema = z.strictObject({
  match: matchSchema,
  role: z.enum(["active", "backup"]),
});

const failoverSchema = z.strictObject({
  when: z.strictObject({
    rttMsAbove: z.number().positive().optional(),
    lossAbove: z.number().gt(0).lt(1).optional(),
    sendRateBelow: rateInBytes("sendRateBelow").pipe(
      z.number().min(1, "sendRateBelow must be at least 1 byte/s (8bit)"),
    ).optional(),
  }).refine((w) => Object.values(w).some((v) => v !== undefined), {
    message: "give at least one of rttMsAbove, lossAbove, sendRateBelow",
  }),
  promote: z.string().min(1),
});

/**
 * A path's name: its device, or its address when it matches by address.
 *
 * @example
 * ```ts
 * pathName({ dev: "veth-b" }); // "veth-b"
 * ```
 */
export function pathName(match: { dev: string } | { local: string }): string {
  return "dev" in match ? match.dev : match.local;
}

function checkPaths(
  spec: { paths: { match: { dev: string } | { local: string } }[]; failover?: { promote: string } },
  ctx: z.RefinementCtx,
): void {
  const seen = new Map<string, number>();
  spec.paths.forEach((p, i) => {
    const name = pathName(p.match);
    const other = seen.get(name);
    if (other !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["paths", i, "match"],
        message: `duplicate: ${name} is already paths[${other}]`,
      });
    }
    seen.set(name, i);
  });
  const promote = spec.failover?.promote;
  if (promote !== undefined && !seen.has(promote)) {
    ctx.addIssue({
      code: "custom",
      path: ["failover", "promote"],
      message: `${promote} is not a declared path (paths: ${
        [...seen.keys()].join(", ") || "none"
      })`,
    });
  }
}

/**
 * The Scheduler spec schema.
 *
 * @example Parsing a spec
 * ```ts
 * const spec = schedulerSchema.parse({ netns: "/run/netns/c", paths: [{ match: { dev: "veth-b" }, role: "backup" }] });
 * spec.scheduler; // "default"
 * ```
 */
export const schedulerSchema = z.strictObject({
  /** The netns path; absent: the caller's netns. */
  netns: z.string().min(1).optional(),
  /** `default` (the kernel's), a scheduler sockform ships, or a BPF object of the user's. */
  scheduler: z.union([z.enum(["default", ...SHIPPED_SCHEDULER_NAMES]), objectSchema])
    .default("default"),
  /** The role of each path; subflows on a path not declared keep the kernel's default. */
  paths: z.array(pathSchema).default([]),
  /** Roles that follow live subflow state (userspace path manager only). */
  failover: failoverSchema.optional(),
}).superRefine(checkPaths);

export type {
  FailoverSpec,
  FailoverSpecInput,
  PathMatch,
  SchedulerChoice,
  SchedulerObjectSpec,
  SchedulerPathSpec,
  SchedulerSpec,
  SchedulerSpecInput,
} from "./spec.ts";

/** One declared path. */
export type SchedulerPath = SchedulerPathSpec;

// The written-out types and the schema agree, both ways.
const _output: SchedulerSpec = {} as z.output<typeof schedulerSchema>;
const _outputBack: z.output<typeof schedulerSchema> = {} as SchedulerSpec;
const _input: SchedulerSpecInput = {} as z.input<typeof schedulerSchema>;
const _inputBack: z.input<typeof schedulerSchema> = {} as SchedulerSpecInput;
void [_output, _outputBack, _input, _inputBack];
