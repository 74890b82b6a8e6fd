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
 *
 * **A path** fails when some subflow on it fails the thresholds and none
 * shows health (passing, with bytes acknowledged since the previous
 * sample); idle subflows say nothing either way, so an idle connection on a
 * dead path does not hide the death. It is *healthy* when some subflow moved
 * data and passed, and none failed.
 *
 * **The rule** promotes when every declared-active path with subflows fails,
 * and restores the declared roles once one of them has been healthy for
 * {@linkcode RECOVER_SAMPLES} samples in a row (hysteresis: a path that
 * comes back for one sample does not make roles flap).
 *
 * @module
 */
import type { FailoverRule, FailoverWhen, RolePath } from "./roles_spec.ts";
import type { SubflowTcpInfo } from "./roles_diag.ts";

/** Healthy samples in a row before the declared roles come back. */
export const RECOVER_SAMPLES = 3;

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
}

/**
 * Judges one subflow from its previous and current `tcp_info`.
 *
 * @example A subflow holding data for 900 ms without an ACK
 * ```ts
 * const now = { retransmits: 1, unacked: 10, lastAckRecvMs: 900, rttUs: 2000, totalRetrans: 4, bytesAcked: 5e6, segsOut: 4000 };
 * judgeSubflow(now, now, { rttMsAbove: 300 }).failing; // true
 * ```
 */
export function judgeSubflow(
  prev: SubflowTcpInfo | undefined,
  now: SubflowTcpInfo,
  when: FailoverWhen,
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
  return { rttMs, loss, failing, moved };
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
  /** Some subflow fails and none moved data while passing. */
  failing: boolean;
  /** Some subflow moved data while passing, and none fails. */
  healthy: boolean;
}

/**
 * Folds the verdicts of a path's subflows into the path's health.
 *
 * @example
 * ```ts
 * pathHealth("veth-a", [{ rttMs: 900, loss: 1, failing: true, moved: false }]).failing; // true
 * ```
 */
export function pathHealth(name: string, verdicts: SubflowVerdict[]): PathHealth {
  const failing = verdicts.some((v) => v.failing);
  const moving = verdicts.some((v) => v.moved && !v.failing);
  return {
    name,
    subflows: verdicts.length,
    rttMs: Math.max(0, ...verdicts.map((v) => v.rttMs)),
    loss: Math.max(0, ...verdicts.map((v) => v.loss)),
    failing: failing && !moving,
    healthy: moving && !failing,
  };
}

/** A flip the rule decided, with its reason for the log. */
export interface Flip {
  /** Which way: the promote path made active, or the declared roles back. */
  to: "promoted" | "declared";
  /** What the samples showed, for the log. */
  reason: string;
}

const describe = (h: PathHealth) =>
  `${h.name} rtt ${Math.round(h.rttMs)} ms loss ${h.loss.toFixed(2)}`;

/**
 * The failover rule's state: promoted or not, and the healthy streak that
 * ends a promotion.
 *
 * @example
 * ```ts
 * const rule = new FailoverState(params.failover!, params.paths);
 * const flip = rule.step(healths);
 * if (flip) log(`failover: ${flip.to}: ${flip.reason}`);
 * ```
 */
export class FailoverState {
  readonly #rule: FailoverRule;
  readonly #watched: ReadonlySet<string>;
  #promoted = false;
  #streak = 0;

  /** Watches the declared-active paths other than `rule.promote`. */
  constructor(rule: FailoverRule, paths: readonly RolePath[]) {
    this.#rule = rule;
    this.#watched = new Set(
      paths.filter((p) => p.role === "active" && p.name !== rule.promote).map((p) => p.name),
    );
  }

  /** Whether the `promote` path is active now. */
  get promoted(): boolean {
    return this.#promoted;
  }

  /** Takes one sample's healths; returns the flip it causes, if any. */
  step(healths: readonly PathHealth[]): Flip | undefined {
    const watched = healths.filter((h) => this.#watched.has(h.name) && h.subflows > 0);
    if (!this.#promoted) {
      if (!watched.length || !watched.every((h) => h.failing)) return undefined;
      this.#promoted = true;
      this.#streak = 0;
      const why = watched.map(describe).join(", ");
      return {
        to: "promoted",
        reason: `every active path fails (${why}): ${this.#rule.promote} promoted`,
      };
    }
    const healthy = watched.find((h) => h.healthy);
    this.#streak = healthy ? this.#streak + 1 : 0;
    if (!healthy || this.#streak < RECOVER_SAMPLES) return undefined;
    this.#promoted = false;
    const reason = `${
      describe(healthy)
    } healthy for ${RECOVER_SAMPLES} samples: declared roles back`;
    return { to: "declared", reason };
  }
}
