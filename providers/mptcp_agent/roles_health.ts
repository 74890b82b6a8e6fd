/**
 * The failover rule's judgement, pure: each path's health from two
 * successive `tcp_info` samples of its subflows, and the promote / restore
 * state machine over those healths.
 *
 * **What a sample says about a subflow.**
 * - *RTT*: the smoothed RTT, or, while data is outstanding, the time since
 *   the last ACK if that is longer. A blackholed path gets no ACK, so its
 *   smoothed RTT never moves; but a path that has held data for 800 ms
 *   without an ACK has an RTT of at least 800 ms. This is what lets the rule
 *   see a blackhole within its threshold instead of after the kernel's
 *   retransmission timeouts.
 * - *Loss*: retransmitted over sent segments since the previous sample; a
 *   subflow that sent nothing while it waits out a retransmission timeout
 *   (`tcpi_retransmits` > 0 with data outstanding) counts as all lost.
 * - *Send rate*: bytes acknowledged (`tcpi_bytes_acked`) per second over
 *   the sample window, but only for a *busy* subflow: one that held
 *   unacknowledged data at both ends of the window and whose latest
 *   delivery-rate sample the kernel did not mark application-limited. An
 *   idle connection is not a slow path. A path's send rate is the sum over
 *   its busy subflows, so many connections sharing a fast path each at a low
 *   rate do not make it slow. A steady stream that always has a packet in
 *   flight yet sends below the threshold looks like a slow path: set the
 *   threshold below what the application pushes.
 *
 * **A path** fails when its send rate is below `sendRateBelow`, or when
 * some subflow on it fails the RTT / loss thresholds and none shows health
 * (passing, with bytes acknowledged since the previous sample); idle
 * subflows say nothing either way, so an idle connection on a dead path
 * does not hide the death. It is *healthy* when some subflow moved
 * data and passed, and none failed.
 *
 * **The rule** promotes when every declared-active path with subflows fails:
 * the `promote` path becomes active and the failing paths become backups,
 * so a degraded path's queue stops carrying traffic. A path held as backup
 * carries nothing, so nothing can show it healthy again; the only probe is
 * to give it the traffic back. So the failed paths are *held down* for
 * `holdMs`, then the declared roles come back *on probation*. A path that
 * fails again on probation is demoted again and held down twice as long
 * (bounded by {@linkcode MAX_HOLD_DOUBLINGS}); probation ends, and the hold
 * returns to `holdMs`, once a restored path has been healthy for
 * {@linkcode RECOVER_SAMPLES} samples in a row and the probation has lasted
 * {@linkcode PROBATION_HOLDS} times the hold (a slow path whose queue takes
 * seconds to fill must fail *on* probation to be held down longer). A degraded path (live, but whose queue fills as soon
 * as it carries the load alone) thus settles on the promoted path with
 * exponentially rarer probes instead of flapping; a path that is dead and
 * comes back returns to its declared role at the next probe.
 *
 * @module
 */
import {
  DEFAULT_HOLD_MS,
  type FailoverPhase,
  type FailoverRule,
  type FailoverWhen,
  MAX_HOLD_DOUBLINGS,
  type RolePath,
} from "./roles_spec.ts";
import type { SubflowTcpInfo } from "./roles_diag.ts";

/** Healthy samples in a row (on probation) before a restored path counts as recovered. */
export const RECOVER_SAMPLES = 3;
/** Probation lasts this many times the current hold-down. */
export const PROBATION_HOLDS = 4;

/** One subflow's judgement in one sample. */
export interface SubflowVerdict {
  /** RTT, ms (the smoothed one, or the time without an ACK while data is outstanding). */
  rttMs: number;
  /** Retransmitted over sent segments since the previous sample (0–1). */
  loss: number;
  /** Whether it fails the rule's thresholds. */
  failing: boolean;
  /** Bytes were acknowledged since the previous sample. */
  moved: boolean;
  /** Bytes acknowledged per second over the window; only for a busy subflow (data outstanding all through, not application-limited). */
  sendRate?: number;
}

/**
 * Judges one subflow from its previous and current `tcp_info`, taken
 * `elapsedMs` apart (the send rate needs it). `failing` covers RTT and
 * loss; the send rate is judged per path ({@linkcode pathHealth}).
 *
 * @example A subflow holding data for 900 ms without an ACK
 * ```ts
 * const now = { retransmits: 1, unacked: 10, lastAckRecvMs: 900, rttUs: 2000, totalRetrans: 4, bytesAcked: 5e6, segsOut: 4000, appLimited: false };
 * judgeSubflow(now, now, { rttMsAbove: 300 }, 250).failing; // true
 * ```
 */
export function judgeSubflow(
  prev: SubflowTcpInfo | undefined,
  now: SubflowTcpInfo,
  when: FailoverWhen,
  elapsedMs: number,
): SubflowVerdict {
  const outstanding = now.unacked > 0;
  const rttMs = Math.max(now.rttUs / 1000, outstanding ? now.lastAckRecvMs : 0);
  const sent = prev ? now.segsOut - prev.segsOut : 0;
  const retrans = prev ? now.totalRetrans - prev.totalRetrans : 0;
  let loss = 0;
  if (sent > 0) loss = Math.min(1, Math.max(0, retrans) / sent);
  else if (outstanding && now.retransmits > 0) loss = 1;
  const failing = (when.rttMsAbove !== undefined && rttMs > when.rttMsAbove) ||
    (when.lossAbove !== undefined && loss > when.lossAbove);
  const moved = !!prev && now.bytesAcked > prev.bytesAcked;
  const busy = !!prev && prev.unacked > 0 && outstanding && !now.appLimited && elapsedMs > 0;
  if (!busy) return { rttMs, loss, failing, moved };
  const sendRate = Math.max(0, now.bytesAcked - prev.bytesAcked) / (elapsedMs / 1000);
  return { rttMs, loss, failing, moved, sendRate };
}

/** One path's health in one sample. */
export interface PathHealth {
  /** The path's name. */
  name: string;
  /** How many subflows were judged. */
  subflows: number;
  /** The worst RTT over its subflows, ms. */
  rttMs: number;
  /** The worst loss over its subflows. */
  loss: number;
  /** Bytes/s summed over its busy subflows; absent when none was busy. */
  sendRate?: number;
  /** Its send rate is below `sendRateBelow`, or some subflow fails and none moved data while passing. */
  failing: boolean;
  /** Some subflow moved data while passing, and none fails. */
  healthy: boolean;
}

/**
 * Folds the verdicts of a path's subflows into the path's health; `when`
 * gives the send-rate threshold, judged over the path's busy subflows.
 *
 * @example
 * ```ts
 * pathHealth("veth-a", [{ rttMs: 900, loss: 1, failing: true, moved: false }]).failing; // true
 * pathHealth("veth-a", [{ rttMs: 5, loss: 0, failing: false, moved: true, sendRate: 1e5 }], {
 *   sendRateBelow: 250_000,
 * }).failing; // true
 * ```
 */
export function pathHealth(
  name: string,
  verdicts: SubflowVerdict[],
  when: FailoverWhen = {},
): PathHealth {
  const failing = verdicts.some((v) => v.failing);
  const moving = verdicts.some((v) => v.moved && !v.failing);
  const busy = verdicts.filter((v) => v.sendRate !== undefined);
  const sendRate = busy.length ? busy.reduce((sum, v) => sum + v.sendRate!, 0) : undefined;
  const slow = when.sendRateBelow !== undefined && sendRate !== undefined &&
    sendRate < when.sendRateBelow;
  return {
    name,
    subflows: verdicts.length,
    rttMs: Math.max(0, ...verdicts.map((v) => v.rttMs)),
    loss: Math.max(0, ...verdicts.map((v) => v.loss)),
    ...(sendRate !== undefined ? { sendRate } : {}),
    failing: slow || (failing && !moving),
    healthy: moving && !failing && !slow,
  };
}

/** A flip the rule decided, with its reason for the log. */
export interface Flip {
  /** Which way: the promote path made active (and the failing ones backup), or the declared roles back. */
  to: "promoted" | "declared";
  /** What the samples showed, for the log. */
  reason: string;
}

const describe = (h: PathHealth) =>
  `${h.name} rtt ${Math.round(h.rttMs)} ms loss ${h.loss.toFixed(2)}` +
  (h.sendRate !== undefined ? ` rate ${(h.sendRate * 8 / 1e6).toFixed(2)} Mbit/s` : "");

/**
 * The failover rule's state: its phase, the paths it demoted, and the
 * hold-down that doubles on each re-failure on probation.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { SchedulerAgentParams } from "./roles_spec.ts";
 *
 * function check(params: SchedulerAgentParams, healths: PathHealth[], log: (m: string) => void): void {
 *   const rule = new FailoverState(params.failover!, params.paths);
 *   const flip = rule.step(healths, Date.now());
 *   if (flip) log(`failover: ${flip.to}: ${flip.reason}`);
 * }
 * ```
 */
export class FailoverState {
  readonly #rule: FailoverRule;
  readonly #watched: ReadonlySet<string>;
  readonly #baseHoldMs: number;
  #phase: FailoverPhase = "declared";
  #demoted = new Set<string>();
  #holdMs: number;
  #since = 0;
  #streak = 0;

  /** Watches the declared-active paths other than `rule.promote`. */
  constructor(rule: FailoverRule, paths: readonly RolePath[]) {
    this.#rule = rule;
    this.#watched = new Set(
      paths.filter((p) => p.role === "active" && p.name !== rule.promote).map((p) => p.name),
    );
    this.#baseHoldMs = Math.max(0, rule.holdMs ?? DEFAULT_HOLD_MS);
    this.#holdMs = this.#baseHoldMs;
  }

  /** Whether the `promote` path is active now (and the failed paths backup). */
  get promoted(): boolean {
    return this.#phase === "promoted";
  }

  /** The rule's phase. */
  get phase(): FailoverPhase {
    return this.#phase;
  }

  /** The hold-down a failure starts now, ms (doubled by each re-failure on probation). */
  get holdMs(): number {
    return this.#holdMs;
  }

  /** Whether the rule made path `name` backup (a failed active path, held down). */
  demoted(name: string): boolean {
    return this.#phase === "promoted" && this.#demoted.has(name);
  }

  /** Takes one sample's healths at time `now` (ms); returns the flip it causes, if any. */
  step(healths: readonly PathHealth[], now: number): Flip | undefined {
    const watched = healths.filter((h) => this.#watched.has(h.name) && h.subflows > 0);
    const allFail = watched.length > 0 && watched.every((h) => h.failing);
    if (this.#phase === "promoted") return this.#holding(now);
    if (allFail) return this.#promote(watched, now);
    if (this.#phase === "probation") this.#probe(watched, now);
    return undefined;
  }

  #promote(failing: readonly PathHealth[], now: number): Flip {
    const again = this.#phase === "probation";
    if (again) {
      this.#holdMs = Math.min(this.#holdMs * 2, this.#baseHoldMs * 2 ** MAX_HOLD_DOUBLINGS);
    }
    this.#phase = "promoted";
    this.#demoted = new Set(failing.map((h) => h.name));
    this.#since = now;
    const why = failing.map(describe).join(", ");
    const names = [...this.#demoted].join(", ");
    return {
      to: "promoted",
      reason: `every active path fails${
        again ? " again on probation" : ""
      } (${why}): ${this.#rule.promote} promoted, ${names} backup for ${this.#holdMs} ms`,
    };
  }

  #holding(now: number): Flip | undefined {
    if (now - this.#since < this.#holdMs) return undefined;
    const names = [...this.#demoted].join(", ");
    this.#phase = "probation";
    this.#since = now;
    this.#streak = 0;
    return {
      to: "declared",
      reason: `${names} held down for ${this.#holdMs} ms: declared roles back on probation`,
    };
  }

  /** Ends probation once it has lasted long enough and a restored path is healthy; the hold returns to its base. */
  #probe(watched: readonly PathHealth[], now: number): void {
    this.#streak = watched.some((h) => h.healthy) ? this.#streak + 1 : 0;
    if (this.#streak < RECOVER_SAMPLES) return;
    if (now - this.#since < PROBATION_HOLDS * this.#holdMs) return;
    this.#phase = "declared";
    this.#holdMs = this.#baseHoldMs;
  }
}
