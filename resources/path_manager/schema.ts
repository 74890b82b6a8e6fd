/**
 * The PathManager spec: zod schema plus the cross-field rules the kernel would
 * otherwise refuse at apply time (duplicate addresses or ids, fullmesh with
 * signal, a port without signal), each reported with its field path.
 *
 * @module
 */
import { z } from "../../deps.ts";
import type { EndpointSpec, FromInterfacesSpec } from "./spec.ts";
import { canonicalAddress, inetFamily } from "../common/inet.ts";
import { checkProgrammable, localSchema, policySchema, type ProgrammableFields } from "./policy.ts";

/**
 * Endpoint flags a spec may set; `implicit` is the kernel's own and never declared.
 *
 * @example Checking a flag name
 * ```ts
 * (DECLARABLE_FLAGS as readonly string[]).includes("laminar"); // true
 * ```
 */
export const DECLARABLE_FLAGS = [
  "signal",
  "subflow",
  "backup",
  "fullmesh",
  "laminar",
] as const satisfies readonly DeclaredFlag[];

/** A declarable endpoint flag (spec_types_test checks it names every one of DECLARABLE_FLAGS). */
export type DeclaredFlag = "signal" | "subflow" | "backup" | "fullmesh" | "laminar";

/**
 * Spec field → `net.mptcp.*` sysctl, with how its value is written. The path
 * manager mode is separate (its knob depends on the kernel).
 *
 * @example The sysctl behind a field
 * ```ts
 * SYSCTL_FIELDS.addAddrTimeout.sysctl; // "net.mptcp.add_addr_timeout"
 * ```
 */
export const SYSCTL_FIELDS = {
  enabled: { sysctl: "net.mptcp.enabled", type: "boolean" },
  checksumEnabled: { sysctl: "net.mptcp.checksum_enabled", type: "boolean" },
  allowJoinInitialAddrPort: { sysctl: "net.mptcp.allow_join_initial_addr_port", type: "boolean" },
  addAddrTimeout: { sysctl: "net.mptcp.add_addr_timeout", type: "seconds" },
  closeTimeout: { sysctl: "net.mptcp.close_timeout", type: "seconds" },
  blackholeTimeout: { sysctl: "net.mptcp.blackhole_timeout", type: "seconds" },
  staleLossCnt: { sysctl: "net.mptcp.stale_loss_cnt", type: "count" },
  synRetransBeforeTcpFallback: {
    sysctl: "net.mptcp.syn_retrans_before_tcp_fallback",
    type: "count",
  },
} as const;

/** A sysctl field of the spec. */
export type SysctlField = keyof typeof SYSCTL_FIELDS;

/**
 * The spec path a sysctl is declared at: `sysctls.addAddrTimeout`, or `mode`
 * for the path-manager knob; the sysctl's own name for anything else.
 *
 * @example Naming a sysctl change in a plan
 * ```ts
 * sysctlSpecPath("net.mptcp.stale_loss_cnt"); // "sysctls.staleLossCnt"
 * ```
 */
export function sysctlSpecPath(name: string): string {
  if (name === "net.mptcp.path_manager" || name === "net.mptcp.pm_type") return "mode";
  const field = Object.entries(SYSCTL_FIELDS).find(([, f]) => f.sysctl === name)?.[0];
  return field ? `sysctls.${field}` : name;
}

const flagSchema = z.enum(DECLARABLE_FLAGS, {
  error: (issue) =>
    issue.input === "implicit"
      ? "implicit is set by the kernel only and cannot be declared"
      : `unknown flag ${JSON.stringify(issue.input)} (known: ${DECLARABLE_FLAGS.join(", ")})`,
});

const flagsSchema = z.array(flagSchema).default([]).transform((flags) =>
  DECLARABLE_FLAGS.filter((f) => flags.includes(f))
);

const ifName = z.string().regex(
  /^[^\s/:]{1,15}$/,
  "an interface name is 1–15 characters without spaces, / or :",
);

const endpointSchema = z.object({
  address: z.string().refine((a) => inetFamily(a) !== undefined, "not an IPv4 or IPv6 address")
    .transform(canonicalAddress),
  dev: ifName.optional(),
  flags: flagsSchema,
  port: z.number().int().min(1, "ports must be 1–65535").max(65535, "ports must be 1–65535")
    .optional(),
  id: z.number().int().min(1, "ids are 1–255 (0 is the initial subflow's)").max(
    255,
    "ids are 1–255 (0 is the initial subflow's)",
  ).optional(),
}).strict();

const glob = z.string().regex(/^[^\s/:]{1,15}$/, "a glob over interface names, e.g. eth* or wwan0");

const fromInterfacesSchema = z.object({
  include: z.array(glob).min(1, "name at least one interface or glob"),
  exclude: z.array(glob).default([]),
  families: z.array(z.enum(["ipv4", "ipv6"])).min(1).default(["ipv4", "ipv6"]),
  flags: flagsSchema.default(["subflow"]),
  skipLinkLocal: z.boolean().default(true),
}).strict();

const seconds = z.number().int().min(0, "must be ≥ 0 seconds").max(2 ** 31 - 1);
const count = z.number().int().min(0).max(255);

const sysctlsSchema = z.object({
  enabled: z.boolean().optional(),
  checksumEnabled: z.boolean().optional(),
  allowJoinInitialAddrPort: z.boolean().optional(),
  addAddrTimeout: seconds.optional(),
  closeTimeout: seconds.optional(),
  blackholeTimeout: seconds.optional(),
  staleLossCnt: count.optional(),
  synRetransBeforeTcpFallback: count.optional(),
}).strict();

const limit = z.number().int().min(0, "limits are ≥ 0").max(255, "limits are at most 255");

/**
 * The raw (user) shape of a PathManager spec.
 *
 * @example Validating a spec by hand
 * ```ts
 * const ok = pathManagerSchema.safeParse({ endpoints: [{ address: "10.1.3.1" }] }).success;
 * ```
 */
export const pathManagerSchema = z.object({
  netns: z.string().startsWith("/", "netns must be an absolute path such as /run/netns/lab")
    .optional(),
  mode: z.enum(["kernel", "userspace"]).optional(),
  limits: z.object({ subflows: limit.optional(), addAddrAccepted: limit.optional() }).strict()
    .optional(),
  endpoints: z.array(endpointSchema).default([]),
  fromInterfaces: fromInterfacesSchema.optional(),
  sysctls: sysctlsSchema.default({}),
  exclusive: z.boolean().default(true),
  policy: policySchema.optional(),
  locals: z.array(localSchema).default([]),
}).strict().superRefine(checkCrossFields);

export type {
  EndpointInput,
  EndpointSpec,
  FromInterfacesInput,
  FromInterfacesSpec,
  PathManagerSpec,
  PathManagerSpecInput,
  PmSysctlsSpec,
} from "./spec.ts";

type Ctx = z.RefinementCtx;

/**
 * Rules the kernel enforces on one set of flags (net/mptcp/pm_netlink.c), as spec errors.
 *
 * @example A port on a subflow endpoint
 * ```ts
 * flagProblems(["subflow"], 8443); // ["an endpoint with a port must have signal and not subflow"]
 * ```
 */
export function flagProblems(flags: readonly string[], port?: number): string[] {
  const out: string[] = [];
  if (flags.includes("signal") && flags.includes("fullmesh")) {
    out.push("fullmesh cannot be combined with signal (the kernel refuses it)");
  }
  if (port !== undefined && (!flags.includes("signal") || flags.includes("subflow"))) {
    out.push("an endpoint with a port must have signal and not subflow");
  }
  return out;
}

function checkEndpoints(endpoints: EndpointSpec[], ctx: Ctx) {
  const byKey = new Map<string, number>();
  const byId = new Map<number, number>();
  endpoints.forEach((ep, i) => {
    for (const message of flagProblems(ep.flags, ep.port)) {
      ctx.addIssue({ code: "custom", path: ["endpoints", i, "flags"], message });
    }
    const key = `${ep.address}|${ep.port ?? 0}`;
    const twin = byKey.get(key);
    if (twin !== undefined) {
      const where = ep.port ? `${ep.address} port ${ep.port}` : ep.address;
      ctx.addIssue({
        code: "custom",
        path: ["endpoints", i, "address"],
        message: `duplicate: ${where} is already endpoints[${twin}]`,
      });
    } else byKey.set(key, i);
    if (ep.id === undefined) return;
    const sameId = byId.get(ep.id);
    if (sameId !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["endpoints", i, "id"],
        message: `duplicate: id ${ep.id} is already endpoints[${sameId}]`,
      });
    } else byId.set(ep.id, i);
  });
}

function checkCrossFields(
  spec: ProgrammableFields & {
    endpoints: EndpointSpec[];
    fromInterfaces?: FromInterfacesSpec;
    sysctls: { enabled?: boolean };
  },
  ctx: Ctx,
) {
  checkEndpoints(spec.endpoints, ctx);
  checkProgrammable(spec, ctx);
  for (const message of flagProblems(spec.fromInterfaces?.flags ?? [])) {
    ctx.addIssue({ code: "custom", path: ["fromInterfaces", "flags"], message });
  }
  const declaresEndpoints = spec.endpoints.length > 0 || spec.fromInterfaces !== undefined;
  if (spec.sysctls.enabled === false && declaresEndpoints) {
    ctx.addIssue({
      code: "custom",
      path: ["sysctls", "enabled"],
      message: "MPTCP cannot be disabled while endpoints are declared",
    });
  }
}
