/**
 * The MptcpifyHook spec: zod schema plus the cross-field rules (nothing both
 * in scope and excluded, map capacities), reported with field paths.
 *
 * @module
 */
import { z } from "../../deps.ts";

/** TASK_COMM_LEN - 1: the kernel keeps at most 15 bytes of a task's name. */
export const MAX_COMM_BYTES = 15;
/** Capacity of each of the hook's maps (bpf/include/mptcpify.h). */
export const MAX_MAP_ENTRIES = 1024;

const commandSchema = z.string().min(1, "a command name cannot be empty").refine(
  (c) => new TextEncoder().encode(c).length <= MAX_COMM_BYTES,
  `a command (task comm) is at most ${MAX_COMM_BYTES} bytes: the kernel truncates longer names`,
).refine((c) => !c.includes("/"), "a command is a task name such as curl, not a path");

const cgroupSchema = z.string().regex(
  /^\/(?:[^/\0]+\/?)*$/,
  "a cgroup is an absolute cgroup v2 directory such as /sys/fs/cgroup/unified/legacy",
);

const uidSchema = z.number().int().min(0, "a uid is 0–4294967294").max(
  0xfffffffe,
  "a uid is 0–4294967294",
);

const selectorSchema = z.object({
  /** cgroup v2 directories; processes in them or any descendant match. */
  cgroups: z.array(cgroupSchema).optional(),
  /** Task names (`comm`), at most 15 bytes each. */
  commands: z.array(commandSchema).optional(),
  /** Real user ids. */
  uids: z.array(uidSchema).optional(),
}).strict();

/** The raw (user) shape of an MptcpifyHook spec. */
export const mptcpifyHookSchema = z.object({
  /** Any match puts a socket in scope; an empty (or absent) scope means every TCP socket. */
  scope: selectorSchema.optional(),
  /** Sockets of these processes stay TCP, even when the scope matches them. */
  exclude: selectorSchema.optional(),
  /** Address families to convert; both by default. */
  families: z.array(z.enum(["ipv4", "ipv6"])).min(1, "name at least one family").optional(),
}).strict().superRefine(checkCrossFields).transform(normalise);

// Written out (not z.input) so docs and editors show each field;
// resources/spec_types_test.ts checks both directions against the schema.
/** What users write. */
export interface MptcpifyHookSpecInput {
  /** Any match puts a socket in scope; an empty (or absent) scope means every TCP socket. */
  scope?: SelectorInput;
  /** Sockets of these processes stay TCP, even when the scope matches them. */
  exclude?: SelectorInput;
  /** Address families to convert; both by default. */
  families?: ("ipv4" | "ipv6")[];
}

/** A selector as written: any field present may match. */
export interface SelectorInput {
  /** cgroup v2 directories; processes in them or any descendant match. */
  cgroups?: string[];
  /** Task names (`comm`), at most 15 bytes each. */
  commands?: string[];
  /** Real user ids. */
  uids?: number[];
}
/** One selector (scope or exclude) after normalisation: sorted, deduplicated, all fields set. */
export interface Selector {
  /** cgroup v2 paths; sockets of processes in them (or below) match. */
  cgroups: string[];
  /** Process names (comm, at most 15 bytes). */
  commands: string[];
  /** User ids. */
  uids: number[];
}
/** The validated, normalised spec. */
export interface MptcpifyHookSpec {
  /** Which sockets become MPTCP. */
  scope: Selector;
  /** Sockets left as TCP even when in scope. */
  exclude: Selector;
  /** The address families it applies to. */
  families: ("ipv4" | "ipv6")[];
}

type RawSelector = z.output<typeof selectorSchema>;
type RawSpec = { scope?: RawSelector; exclude?: RawSelector; families?: ("ipv4" | "ipv6")[] };

/** Trailing slashes do not name another cgroup. */
function cleanCgroup(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}

function sortedUnique<T extends string | number>(items: readonly T[]): T[] {
  return [...new Set(items)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function normaliseSelector(s: RawSelector | undefined): Selector {
  return {
    cgroups: sortedUnique((s?.cgroups ?? []).map(cleanCgroup)),
    commands: sortedUnique(s?.commands ?? []),
    uids: sortedUnique(s?.uids ?? []),
  };
}

function normalise(spec: RawSpec): MptcpifyHookSpec {
  return {
    scope: normaliseSelector(spec.scope),
    exclude: normaliseSelector(spec.exclude),
    families: sortedUnique(spec.families ?? ["ipv4", "ipv6"]),
  };
}

const FIELDS = ["cgroups", "commands", "uids"] as const;

function checkCrossFields(spec: RawSpec, ctx: z.RefinementCtx) {
  const scope = normaliseSelector(spec.scope);
  const exclude = normaliseSelector(spec.exclude);
  for (const field of FIELDS) {
    const both = (scope[field] as (string | number)[]).filter((x) =>
      (exclude[field] as (string | number)[]).includes(x)
    );
    for (const item of both) {
      const index = (spec.exclude?.[field] as (string | number)[] | undefined)?.findIndex((x) =>
        (typeof x === "string" ? cleanCgroup(x) : x) === item
      ) ?? 0;
      ctx.addIssue({
        code: "custom",
        path: ["exclude", field, index],
        message: `${JSON.stringify(item)} is both in scope and excluded; keep it in one place`,
      });
    }
    const total = scope[field].length + exclude[field].length;
    if (total > MAX_MAP_ENTRIES) {
      ctx.addIssue({
        code: "custom",
        path: ["scope", field],
        message:
          `${total} ${field} in scope and exclude together; the hook's map holds ${MAX_MAP_ENTRIES}`,
      });
    }
  }
}
