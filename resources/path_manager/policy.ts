/**
 * The programmable part of a PathManager spec (issue 10): which policy the
 * netns's agent runs and the local addresses it may use. The shapes are the
 * agent contract's (`providers/mptcp_agent/policy_spec.ts`); this file
 * validates them and resolves a policy module's path.
 *
 * @module
 */
import { z } from "../../deps.ts";
import { canonicalAddress, inetFamily } from "../common/inet.ts";
import type { PolicySpec } from "../../providers/mptcp_agent/policy_spec.ts";

/** The kernel's cap on extra subflows per connection (`MPTCP_PM_ADDR_MAX` limits). */
const MAX_SUBFLOWS = 8;

const ifName = z.string().regex(
  /^[^\s/:]{1,15}$/,
  "an interface name is 1–15 characters without spaces, / or :",
);

/**
 * A policy: a builtin (ndiffports with its subflow count, fullmesh) or a
 * module of the user's with its params.
 *
 * @example A builtin policy
 * ```ts
 * policySchema.parse({ builtin: "ndiffports", subflows: 3 });
 * ```
 */
export const policySchema = z.union([
  z.object({
    builtin: z.literal("ndiffports"),
    subflows: z.number().int().min(1, "at least 1 subflow").max(
      MAX_SUBFLOWS,
      `at most ${MAX_SUBFLOWS} subflows (the kernel's limit)`,
    ),
  }).strict(),
  z.object({ builtin: z.literal("fullmesh") }).strict(),
  z.object({
    module: z.string().min(1, "name the policy module, e.g. ./policies/mine.ts"),
    params: z.record(z.string(), z.unknown()).optional(),
  }).strict(),
], {
  error: () =>
    'a policy is { builtin: "ndiffports", subflows }, { builtin: "fullmesh" } or { module, params }',
});

/**
 * One local address a policy may use.
 *
 * @example A backup local
 * ```ts
 * localSchema.parse({ address: "10.1.3.1", id: 3, backup: true });
 * ```
 */
export const localSchema = z.object({
  address: z.string().refine((a) => inetFamily(a) !== undefined, "not an IPv4 or IPv6 address")
    .transform(canonicalAddress),
  id: z.number().int().min(1, "ids are 1–255 (0 is the initial subflow's)").max(
    255,
    "ids are 1–255 (0 is the initial subflow's)",
  ),
  backup: z.boolean().optional(),
  signal: z.boolean().optional(),
  dev: ifName.optional(),
}).strict();

/** One validated local. */
export type LocalSpec = z.output<typeof localSchema>;

/** The programmable fields as the cross-field rules see them. */
export interface ProgrammableFields {
  mode?: "kernel" | "userspace";
  policy?: PolicySpec;
  locals?: LocalSpec[];
}

function issue(ctx: z.RefinementCtx, path: (string | number)[], message: string) {
  ctx.addIssue({ code: "custom", path, message });
}

function checkLocals(locals: LocalSpec[], ctx: z.RefinementCtx) {
  const ids = new Map<number, number>();
  const addresses = new Map<string, number>();
  locals.forEach((l, i) => {
    const sameId = ids.get(l.id);
    if (sameId !== undefined) {
      issue(ctx, ["locals", i, "id"], `duplicate: id ${l.id} is already locals[${sameId}]`);
    } else ids.set(l.id, i);
    const sameAddress = addresses.get(l.address);
    if (sameAddress !== undefined) {
      issue(
        ctx,
        ["locals", i, "address"],
        `duplicate: ${l.address} is already locals[${sameAddress}]`,
      );
    } else addresses.set(l.address, i);
  });
}

/**
 * The rules between `mode`, `policy` and `locals`: a policy runs only in
 * userspace mode, locals only serve a policy, and no two locals share an id
 * or an address.
 *
 * @example A policy without userspace mode
 * ```ts
 * import { pathManagerSchema } from "./schema.ts";
 *
 * pathManagerSchema.safeParse({ policy: { builtin: "fullmesh" } }).success; // false: error at "policy"
 * ```
 */
export function checkProgrammable(spec: ProgrammableFields, ctx: z.RefinementCtx): void {
  if (spec.policy && spec.mode !== "userspace") {
    issue(ctx, ["policy"], 'a policy needs mode: "userspace" (the kernel PM would run instead)');
  }
  if (spec.locals?.length && !spec.policy) {
    issue(ctx, ["locals"], "locals are the addresses a policy uses: declare a policy too");
  }
  checkLocals(spec.locals ?? [], ctx);
}

/**
 * The absolute path of a policy module: an absolute path or `file:` URL as
 * is, a relative one against `base` (the stack file's directory).
 *
 * @example A module next to the stack file
 * ```ts
 * resolveModulePath("./policies/x.ts", "/srv/stacks"); // "/srv/stacks/policies/x.ts"
 * ```
 */
export function resolveModulePath(module: string, base: string): string {
  if (module.startsWith("file:")) return new URL(module).pathname;
  if (module.startsWith("/")) return module;
  return new URL(module, `file://${base.endsWith("/") ? base : `${base}/`}`).pathname;
}
