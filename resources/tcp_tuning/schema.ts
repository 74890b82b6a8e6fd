/**
 * The TcpTuning spec: zod schema, units, and the normal form every rule is
 * compared in (the same form the driver decodes from the kernel map).
 *
 * Minimum kernels: the resource as a whole needs Linux ≥ 5.19 (cgroup
 * bpf_link 5.7, bpf_loop 5.17, bpf_skc_to_mptcp_sock 5.19). Fields that need
 * less say so; none needs more.
 *
 * @module
 */
import { z } from "../../deps.ts";
import type { TcpMatchInput, TcpSetInput } from "./input.ts";
import { type Cidr, parseCidr } from "../common/cidr.ts";
import { rateInBytes } from "../common/rate.ts";

/** Rules the kernel map holds. */
export const MAX_RULES = 64;
/** Port entries (single ports or ranges) per side of one rule. */
export const MAX_PORT_ENTRIES = 8;
/** Sampling resolution: fractions are kept in parts per million. */
export const SAMPLE_SCALE = 1_000_000;
/** The largest SO_MAX_PACING_RATE a 32-bit int carries, bytes/s (~0U means "no limit"). */
export const MAX_PACING_RATE = 0xffff_fffe;

const int = (what: string, min: number, max: number) =>
  z.number({ error: `${what} must be a number` }).int(`${what} must be an integer`)
    .min(min, `${what} must be ${min}–${max}`).max(max, `${what} must be ${min}–${max}`);

const prefix = z.string().transform((text, ctx) => {
  const cidr = parseCidr(text);
  if ("error" in cidr) {
    ctx.addIssue({ code: "custom", message: cidr.error });
    return z.NEVER;
  }
  return mappedAsIPv4(cidr) ?? cidr.text;
});

/** `::ffff:10.0.0.0/104` is the IPv4 prefix 10.0.0.0/8: written that way, it compares equal. */
function mappedAsIPv4(cidr: Cidr): string | undefined {
  const b = cidr.bytes;
  const mapped = cidr.family === "ipv6" && cidr.length >= 96 && b[10] === 0xff && b[11] === 0xff &&
    b.subarray(0, 10).every((x) => x === 0);
  return mapped ? `${[...b.subarray(12)].join(".")}/${cidr.length - 96}` : undefined;
}

/** A port entry: a port (443) or an inclusive range ("8000-8080"). */
export type PortEntry = number | `${number}-${number}`;

const portEntry = z.union([
  int("a port", 1, 65535),
  z.string().regex(/^\d{1,5}-\d{1,5}$/, 'a port range looks like "8000-8080"'),
], { error: 'ports are numbers 1–65535 or ranges like "8000-8080"' }).superRefine((p, ctx) => {
  if (typeof p === "number") return;
  const [lo, hi] = p.split("-").map(Number);
  if (lo < 1 || hi > 65535 || lo > hi) {
    ctx.addIssue({ code: "custom", message: `port range ${p} needs 1 ≤ lo ≤ hi ≤ 65535` });
  }
});

const ports = z.array(portEntry).min(1, "an empty port list matches nothing; omit it instead")
  .max(MAX_PORT_ENTRIES, `at most ${MAX_PORT_ENTRIES} ports or ranges per side`)
  .transform(normalisePorts);

const matchSchema = z.strictObject({
  direction: z.enum(["active", "passive"]).optional(),
  local: prefix.optional(),
  remote: prefix.optional(),
  localPorts: ports.optional(),
  remotePorts: ports.optional(),
  subflow: z.boolean().optional(),
});

const pacingRate = rateInBytes("maxPacingRate").pipe(
  int("maxPacingRate", 1, MAX_PACING_RATE).max(
    MAX_PACING_RATE,
    "maxPacingRate exceeds the kernel's 32-bit SO_MAX_PACING_RATE (at most 4294967294 bytes/s, ~34.3 Gbit/s)",
  ),
);

const setSchema = z.strictObject({
  congestion: z.string().regex(
    /^[a-z0-9_]{1,15}$/,
    "congestion is an algorithm name such as cubic or bbr (1–15 of a-z 0-9 _)",
  ).optional(),
  synRtoMs: int("synRtoMs", 1, 120_000).optional(),
  initRwnd: int("initRwnd", 1, 65_535).optional(),
  initCwnd: int("initCwnd", 1, 4_096).optional(),
  sndBuf: int("sndBuf", 1_024, 1_073_741_823).optional(),
  rcvBuf: int("rcvBuf", 1_024, 1_073_741_823).optional(),
  maxPacingRate: pacingRate.optional(),
  mark: int("mark", 0, 0xffff_ffff).optional(),
  rtoMinMs: int("rtoMinMs", 1, 200).optional(),
  delackMaxMs: int("delackMaxMs", 1, 200).optional(),
  noDelay: z.boolean().optional(),
  ecn: z.literal(true, {
    error: "ecn can only be true (request ECN); the sysctl net.ipv4.tcp_ecn governs the rest",
  }).optional(),
}).refine((s) => Object.keys(s).length > 0, "set must name at least one setting");

const ruleSchema = z.strictObject({
  match: matchSchema.default({}),
  set: setSchema,
  sample: z.number().min(0, "sample must be 0–1").max(1, "sample must be 0–1").default(1)
    .transform((s, ctx) => {
      const ppm = Math.round(s * SAMPLE_SCALE);
      if (s > 0 && ppm === 0) {
        ctx.addIssue({ code: "custom", message: "sample is below the 0.000001 resolution" });
      }
      return ppm / SAMPLE_SCALE;
    }),
});

const cgroupPath = z.string().regex(
  /^\//,
  "cgroup must be an absolute path such as /sys/fs/cgroup/unified/web",
)
  .refine((p) => !p.split("/").includes(".."), "cgroup must not contain ..")
  .transform((p) => p.replace(/\/+/g, "/").replace(/(.)\/$/, "$1"));

/** The raw (user) shape of a TcpTuning spec. */
export const tcpTuningSchema = z.strictObject({
  cgroup: cgroupPath,
  rules: z.array(ruleSchema).max(MAX_RULES, `at most ${MAX_RULES} rules (the kernel map's size)`),
});

/** What users write. */
export type TcpTuningSpecInput = z.input<typeof tcpTuningSchema>;
// Written out (not z.output) so docs show each field; resources/spec_types_test.ts
// checks them against the schema both ways.
/** The validated, normalised spec. */
export interface TcpTuningSpec {
  /** The cgroup v2 directory, with duplicate and trailing slashes removed. */
  cgroup: string;
  /** The rules in match order. */
  rules: TcpRule[];
}
/** One normalised rule: the unit of comparison between the stack and the kernel. */
export interface TcpRule {
  /** Which connections it is for (`{}`: all). */
  match: TcpMatch;
  /** What it sets on them. */
  set: TcpSet;
  /** The fraction of matching connections it applies to, rounded to 1e-6. */
  sample: number;
}
/** A rule's normalised match: prefixes canonical, ports sorted and de-duplicated. */
export type TcpMatch = TcpMatchInput;
/** A rule's normalised settings: `maxPacingRate` in bytes per second. */
export type TcpSet = Omit<TcpSetInput, "maxPacingRate"> & {
  /** The pacing cap in bytes per second. */
  maxPacingRate?: number;
};

/**
 * Sorted, de-duplicated port entries; a range of one port becomes the port.
 *
 * @example Folding ports and ranges
 * ```ts
 * normalisePorts([443, "80-80", "8000-8080", 443]); // [80, 443, "8000-8080"]
 * ```
 */
export function normalisePorts(
  entries: readonly PortEntry[] | readonly (number | string)[],
): PortEntry[] {
  const ranges = entries.map((e) => {
    const [lo, hi] = typeof e === "number" ? [e, e] : e.split("-").map(Number);
    return [lo, hi ?? lo] as const;
  });
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: PortEntry[] = [];
  for (const [lo, hi] of ranges) {
    const entry: PortEntry = lo === hi ? lo : `${lo}-${hi}`;
    if (!out.includes(entry)) out.push(entry);
  }
  return out;
}

/**
 * The inclusive [lo, hi] of a port entry.
 *
 * @example Reading a range
 * ```ts
 * portRange("8000-8080"); // [8000, 8080]
 * ```
 */
export function portRange(entry: PortEntry): [number, number] {
  if (typeof entry === "number") return [entry, entry];
  const [lo, hi] = entry.split("-").map(Number);
  return [lo, hi];
}
