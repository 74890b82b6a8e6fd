/**
 * The reconcile agent's status: one JSON file per node, rewritten after every
 * loop (atomically, so a reader never sees half of it), and the source of the
 * agent's own metrics.
 *
 * @module
 */

/** What one loop ended with. */
export type LoopResult =
  | "in-sync"
  | "applied"
  | "changes-pending"
  | "awaiting-approval"
  | "locked"
  | "error";

/** A resource's status as the last plan saw it. */
export type ResourceStatus = "in_sync" | "drifted" | "error";

/** The statuses, in the order metrics list them. */
export const RESOURCE_STATUSES: readonly ResourceStatus[] = ["in_sync", "drifted", "error"];

/** One step of the last plan, as the status reports it. */
export interface PlannedStep {
  address: string;
  action: string;
  hitless: boolean;
  /** True when the kernel disagreed with what sockform last applied. */
  drift: boolean;
}

/** The last error: where it happened and on which commit. */
export interface LoopError {
  /** ISO time. */
  at: string;
  /** fetch (the source), validate (loading the stack), plan, apply or lock. */
  stage: "fetch" | "validate" | "plan" | "apply";
  commit: string | null;
  message: string;
}

/** The status file's content. */
export interface ReconcileStatus {
  formatVersion: 1;
  source: string;
  mode: "apply" | "report";
  requireHitless: boolean;
  /** The commit the last loop read (for a file source, its `mtime:size`). */
  commit: string | null;
  /** The last commit that planned and applied (or was already in sync) without error. */
  lastGoodCommit: string | null;
  stack: string | null;
  loops: number;
  lastLoopAt: string | null;
  lastSuccessAt: string | null;
  lastResult: LoopResult | null;
  /** The last plan's steps that change something (no-ops left out). */
  lastPlan: { changes: number; drift: number; steps: PlannedStep[] } | null;
  /** Steps `--require-hitless` holds back until a person applies them. */
  awaitingApproval: string[];
  lastError: LoopError | null;
  /**
   * Set when a module the (file) stack imports changed since it was loaded: the agent exits with
   * code 75 for its supervisor to restart it with the new code.
   */
  restartNeeded?: string[];
  /** Counters since the agent started. */
  totals: {
    applies: number;
    errors: number;
    locked: number;
    driftFound: number;
    driftRepaired: number;
  };
  resources: Record<string, ResourceStatus>;
  durations: { planSeconds: number | null; applySeconds: number | null };
}

/**
 * A status before the first loop.
 *
 * @example Before the first loop
 * ```ts
 * const s = newStatus("file:/etc/sockform/stack.ts", "apply", false);
 * s.loops; // 0
 * ```
 */
export function newStatus(
  source: string,
  mode: "apply" | "report",
  requireHitless: boolean,
): ReconcileStatus {
  return {
    formatVersion: 1,
    source,
    mode,
    requireHitless,
    commit: null,
    lastGoodCommit: null,
    stack: null,
    loops: 0,
    lastLoopAt: null,
    lastSuccessAt: null,
    lastResult: null,
    lastPlan: null,
    awaitingApproval: [],
    lastError: null,
    totals: { applies: 0, errors: 0, locked: 0, driftFound: 0, driftRepaired: 0 },
    resources: {},
    durations: { planSeconds: null, applySeconds: null },
  };
}

/**
 * Writes the status atomically (a temp file renamed over the old one).
 *
 * @example After a loop
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function afterLoop(status: ReconcileStatus): void {
 *   writeStatus("/run/sockform/reconcile/status.json", status);
 * }
 * ```
 */
export function writeStatus(path: string, status: ReconcileStatus): void {
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  Deno.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = `${path}.${Deno.pid}.tmp`;
  Deno.writeTextFileSync(tmp, JSON.stringify(status, null, 2) + "\n");
  Deno.renameSync(tmp, path);
}

/**
 * Reads a status file; undefined when it is missing or unreadable.
 *
 * @example Read a node's status
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function nodeStatus(): ReconcileStatus | undefined {
 *   return readStatus("/run/sockform/reconcile/status.json");
 * }
 * ```
 */
export function readStatus(path: string): ReconcileStatus | undefined {
  try {
    const s = JSON.parse(Deno.readTextFileSync(path)) as ReconcileStatus;
    return s?.formatVersion === 1 ? s : undefined;
  } catch {
    return undefined;
  }
}
