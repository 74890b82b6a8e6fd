/**
 * Fault injection for tests, through `SOCKFORM_FAULT`:
 *
 * - `fail-after:N` makes apply fail (and roll back) right after its Nth step;
 *   `kill-after:N` SIGKILLs the process there.
 * - `fail-at-change:N` and `kill-at-change:N` do the same inside a step, right
 *   after the Nth kernel change of the apply. Changes are counted where every
 *   driver makes them: each undo a driver registers, and each pin, unpin,
 *   link attach (kills only) and program swap in providers/libbpf, which
 *   reports them through its change hook (providers/libbpf/change_hook.ts;
 *   the kernel store installs {@linkcode faultAtChange} there). That
 *   reaches every point where a crash could leave a resource half-built,
 *   without a hook in any driver.
 *
 * Together they prove that a rollback restores, and a re-run converges, from
 * any point.
 *
 * @module
 */

/** Where a fault fires: after a whole step, or after a single kernel change. */
export type FaultPoint = "after" | "at-change";

/** A parsed `SOCKFORM_FAULT`. */
export interface FaultSetting {
  mode: "fail" | "kill";
  point: FaultPoint;
  /** The step (or change) count at which it fires, from 1. */
  after: number;
}

/** The error a `fail-*` fault throws; rollback and the CLI treat it like any failure. */
export class InjectedFault extends Error {
  constructor(where: string) {
    super(`injected fault (SOCKFORM_FAULT) ${where}`.trim());
  }
}

/** Parses SOCKFORM_FAULT; null when unset or malformed. */
export function faultSetting(): FaultSetting | null {
  const raw = Deno.env.get("SOCKFORM_FAULT");
  const m = raw?.match(/^(fail|kill)-(after|at-change):(\d+)$/);
  if (!m) return null;
  return { mode: m[1] as "fail" | "kill", point: m[2] as FaultPoint, after: Number(m[3]) };
}

function firesAt(point: FaultPoint, count: number): FaultSetting | null {
  const fault = faultSetting();
  return fault && fault.point === point && fault.after === count ? fault : null;
}

/** Called after each completed step with the count so far. */
export async function faultAfter(stepsDone: number, fail: () => Promise<void>): Promise<void> {
  const fault = firesAt("after", stepsDone);
  if (!fault) return;
  if (fault.mode === "kill") Deno.kill(Deno.pid, "SIGKILL");
  await fail();
}

let killCount = 0;
let failCount = 0;
let suspended = false;
/** SOCKFORM_FAULT as read when the apply began: every change would otherwise parse it again. */
let changeFault: FaultSetting | null | undefined;

/** Starts counting kernel changes afresh: one apply's changes are numbered from 1. */
export function resetChangeCount(): void {
  killCount = 0;
  failCount = 0;
  suspended = false;
  changeFault = faultSetting();
}

/** Rollback's own changes (re-pins, restores) are never fault points. */
export function suspendChangeFaults(suspend: boolean): void {
  suspended = suspend;
}

/**
 * Marks one kernel change: a registered undo, a pin, an unpin, a link attach
 * or a program swap. `kill-at-change` stops at every one. `fail-at-change`
 * stops only where a caller could have failed (`failable`): not right after a
 * link attach, whose handle the caller has not even received yet. A failure
 * there must roll back exactly, so drivers register each undo before making
 * its change (undos tolerate a change that never happened).
 * Throws `InjectedFault` or SIGKILLs when the fault's count is reached.
 */
export function faultAtChange(description: string, failable: boolean): void {
  if (suspended) return;
  const fault = changeFault === undefined ? faultSetting() : changeFault;
  if (!fault || fault.point !== "at-change") return;
  if (fault.mode === "kill") {
    if (++killCount === fault.after) Deno.kill(Deno.pid, "SIGKILL");
  } else if (failable && ++failCount === fault.after) {
    throw new InjectedFault(`at change ${failCount} (${description})`);
  }
}
