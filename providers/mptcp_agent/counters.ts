/**
 * The agent core's counters, a plain JSON-able object so an agent process can
 * write it to its status file and `show` can print it.
 *
 * @module
 */
import { MPTCP_EVENT, type MptcpEventType } from "./events.ts";

/** Events seen per type, overflows and resyncs. */
export interface AgentCounters {
  /** Events received, per type (every known type present, 0 when none). */
  events: Record<MptcpEventType, number>;
  /** Messages of event types this code does not know (a newer kernel). */
  unknownEvents: number;
  /** ENOBUFS seen on the event socket: the kernel dropped events. */
  overflows: number;
  /** Snapshots taken from the kernel (at start and after each overflow). */
  resyncs: number;
  /** Signals the kind's handler threw on (it logs them and keeps serving). */
  handlerErrors: number;
  /** `Date.now()` of the last resync. */
  lastResyncAt?: number;
  /** The event socket's receive buffer as the kernel granted it. */
  receiveBufferBytes: number;
}

/**
 * Zeroed counters.
 *
 * @example
 * ```ts
 * const c = newCounters(16 << 20);
 * c.events.CREATED; // 0
 * ```
 */
export function newCounters(receiveBufferBytes: number): AgentCounters {
  const events = Object.fromEntries(
    Object.keys(MPTCP_EVENT).map((name) => [name, 0]),
  ) as Record<MptcpEventType, number>;
  return {
    events,
    unknownEvents: 0,
    overflows: 0,
    resyncs: 0,
    handlerErrors: 0,
    receiveBufferBytes,
  };
}

/**
 * Counts one event.
 *
 * @example
 * ```ts
 * const counters = newCounters(8 << 20);
 * countEvent(counters, "CREATED");
 * totalEvents(counters); // 1
 * ```
 */
export function countEvent(counters: AgentCounters, type: MptcpEventType): void {
  counters.events[type]++;
}

/**
 * All events seen, of every type.
 *
 * @example
 * ```ts
 * const counters = newCounters(8 << 20);
 * totalEvents(counters); // 0
 * ```
 */
export function totalEvents(counters: AgentCounters): number {
  return Object.values(counters.events).reduce((a, b) => a + b, 0) + counters.unknownEvents;
}
