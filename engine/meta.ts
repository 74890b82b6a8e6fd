/**
 * The metadata record every resource keeps, as the engine sees it: the
 * fields common to every kind (kind, name, spec hash, object hash, tool
 * version, schema version) built in one place, and the upgrade of a record an
 * older sockform wrote, which each kind completes for its own `extra` (as
 * Terraform's `UpgradeState` does).
 *
 * @module
 */
import type { DriverContext, KindMeta, ResourceMeta, ResourceRef } from "./types.ts";

/**
 * The layout version written into new metadata. Records without `schema`
 * were written before versions existed: they read as schema 0, whose layout
 * is that of schema 1 without the field.
 */
export const META_SCHEMA = 1;

/**
 * A kind's upgrade of its `extra` from the layout of `schema` (what the
 * record says, 0 when absent) to the current one. It also checks the shape:
 * what it cannot read it leaves out, so the diff sees it as missing memory.
 */
export type UpgradeExtra<Extra> = (extra: unknown, schema: number) => Extra;

/** The hashes a kind's desired state pins down; the engine records them. */
export interface MetaHashes {
  /** sha256 of the canonical spec (`hashJson(resource.spec)`). */
  specHash: string;
  /** sha256 of the BPF object bytes; empty for netlink-only kinds. */
  objectHash: string;
}

/**
 * The complete record for a resource: the engine's common fields plus the
 * kind's `extra`.
 *
 * @example What a driver writes after an apply
 * ```ts
 * const meta = metaRecord(
 *   { toolVersion: "0.1.0" },
 *   { kind: "SocketLookupRedirect", name: "web" },
 *   { specHash: "5e1f…", objectHash: "" },
 *   { netns: null },
 * );
 * console.log(meta.schema, meta.extra.netns); // 1 null
 * ```
 */
export function metaRecord<Extra>(
  ctx: Pick<DriverContext, "toolVersion">,
  ref: Pick<ResourceRef, "kind" | "name">,
  hashes: MetaHashes,
  extra: Extra,
): KindMeta<Extra> {
  return {
    schema: META_SCHEMA,
    kind: ref.kind,
    name: ref.name,
    specHash: hashes.specHash,
    objectHash: hashes.objectHash,
    toolVersion: ctx.toolVersion,
    extra,
  };
}

/**
 * Reads a record as the current layout: the common fields as they are, the
 * kind's `extra` through its upgrade. A record from a newer sockform keeps its
 * schema number, so what wrote it can be told.
 *
 * @example Metadata written before schema versions
 * ```ts
 * const raw = { kind: "TcpTuning", name: "t", specHash: "", objectHash: "", toolVersion: "0.0.9" };
 * const meta = upgradeMeta(raw, (extra) => ({ cgroup: String((extra as { cgroup?: string })?.cgroup) }));
 * meta.schema; // 1
 * ```
 */
export function upgradeMeta<Extra>(
  raw: ResourceMeta<unknown>,
  upgrade: UpgradeExtra<Extra>,
): KindMeta<Extra> {
  const schema = typeof raw.schema === "number" ? raw.schema : 0;
  return {
    ...raw,
    schema: Math.max(schema, META_SCHEMA),
    extra: upgrade(raw.extra, schema),
  };
}

/**
 * The string fields of an untyped record, for upgrades that read a map of
 * strings (others are left out).
 *
 * @example
 * ```ts
 * stringRecord({ "1": "nginx", "2": 7 }); // { "1": "nginx" }
 * ```
 */
export function stringRecord(value: unknown): Record<string, string> {
  if (!value || typeof value !== "object") return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === "string") out[k] = v;
  return out;
}

/**
 * One field of an untyped record, when it is an object; undefined otherwise.
 *
 * @example
 * ```ts
 * field({ cgroup: "/sys/fs/cgroup/x" }, "cgroup"); // "/sys/fs/cgroup/x"
 * ```
 */
export function field(value: unknown, name: string): unknown {
  return value && typeof value === "object" ? (value as Record<string, unknown>)[name] : undefined;
}
