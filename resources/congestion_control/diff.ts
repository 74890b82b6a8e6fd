/**
 * What a CongestionControl is in the kernel and what the stack wants, and the
 * pure diff between them. The one operation each difference needs is named by
 * `congestionControlOp`, which the driver runs, so apply does what the plan showed.
 *
 * @module
 */
import type { Change, Observed } from "../../engine/types.ts";
import { field } from "../../engine/meta.ts";

/** The resolved desired state: what the driver registers. */
export interface CongestionControlDesired {
  /** The name it registers under (the object's `tcp_congestion_ops.name`), e.g. `sf_reno`. */
  ccName: string;
  /** `sfReno`, or the absolute path of the user's object. */
  source: string;
  /** sha256 of the object bytes. */
  objectHash: string;
  /** Its struct_ops map (the C variable's name). */
  mapName: string;
  /** sha256 of the canonical spec. */
  specHash: string;
}

/** What the resource's pins and the kernel hold. */
export interface CongestionControlState {
  /** The pinned struct_ops link: null when missing; `mapId` 0 once detached. */
  link: { mapId: number } | null;
  /** net.ipv4.tcp_available_congestion_control. */
  available: string[];
}

/** What a CongestionControl remembers in its metadata. */
export interface CongestionControlMetaExtra {
  /** The name it registered under. */
  ccName: string;
}

/**
 * Reads the metadata `extra` of any sockform version (there is one layout).
 *
 * @example Metadata of any version
 * ```ts
 * upgradeCongestionControlExtra({ ccName: "sf_reno" }); // { ccName: "sf_reno" }
 * ```
 */
export function upgradeCongestionControlExtra(extra: unknown): CongestionControlMetaExtra {
  const ccName = field(extra, "ccName");
  return { ccName: typeof ccName === "string" ? ccName : "" };
}

/** The one kernel operation a deployed CongestionControl needs. */
export type CongestionControlOp =
  | "register" // a new link (the old one, if any, goes at commit)
  | "update-map" // the link switches to the new build in one kernel call
  | "write-meta"; // the kernel is right, only the record changes

type Obs = Observed<CongestionControlState, CongestionControlMetaExtra>;

/**
 * The change a deployed resource needs, with the operation that carries it out;
 * null when the kernel already matches.
 *
 * @example A detached link
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type {
 *   CongestionControlDesired,
 *   CongestionControlMetaExtra,
 *   CongestionControlState,
 *   Observed,
 * } from "../../mod.ts";
 *
 * function op(
 *   observed: Observed<CongestionControlState, CongestionControlMetaExtra>,
 *   desired: CongestionControlDesired,
 * ) {
 *   return congestionControlOp(observed, desired)?.op; // "register"
 * }
 * ```
 */
export function congestionControlOp(
  observed: Obs,
  desired: CongestionControlDesired,
): { op: CongestionControlOp; change: Change } | null {
  const { link, available } = observed.state;
  const name = desired.ccName;
  const reRegister = (before: string, reason: string) => ({
    op: "register" as const,
    change: { path: "link", before, after: `${name} registered`, reason, hitless: true },
  });
  if (!link) return reRegister("missing", `the link pin is gone: ${name} is not registered`);
  if (link.mapId === 0) {
    return reRegister("detached", `the link was detached: ${name} unregistered`);
  }
  if (!available.includes(name)) {
    const reason = `${name} is no longer in net.ipv4.tcp_available_congestion_control`;
    return reRegister("unlisted", reason);
  }
  if (observed.meta?.objectHash !== desired.objectHash) {
    const reason = `a new build of ${name} replaces the registered one in one link update: ` +
      "connections using it keep the old build, new ones get the new";
    return {
      op: "update-map",
      change: {
        path: "program",
        before: observed.meta?.objectHash,
        after: desired.objectHash,
        reason,
        hitless: true,
      },
    };
  }
  if (observed.meta.specHash !== desired.specHash) {
    const change = {
      path: "program",
      reason: "the same object, declared another way",
      hitless: true,
    };
    return { op: "write-meta", change };
  }
  return null;
}

/**
 * The pure diff: a new name is a replace (the kernel cannot rename a
 * registered congestion control), anything else is `congestionControlOp`'s change.
 *
 * @example A resource to register
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { CongestionControlDesired } from "../../mod.ts";
 *
 * function register(desired: CongestionControlDesired): unknown {
 *   return diffCongestionControl(null, desired)[0].after; // "sf_reno registered"
 * }
 * ```
 */
export function diffCongestionControl(
  observed: Obs | null,
  desired: CongestionControlDesired,
): Change[] {
  const name = desired.ccName;
  if (!observed) {
    return [{
      path: "name",
      after: `${name} registered`,
      reason: `registers ${name}`,
      hitless: true,
    }];
  }
  const before = observed.meta?.extra.ccName;
  if (observed.meta && before !== name) {
    const reason = `registers ${name} and unregisters ${before}: connections using ${before} ` +
      `keep it, rules that name ${before} find it gone`;
    return [{ path: "name", before, after: name, reason, hitless: false, forcesReplace: true }];
  }
  const found = congestionControlOp(observed, desired);
  return found ? [found.change] : [];
}
