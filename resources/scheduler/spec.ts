/**
 * The Scheduler spec types, written out (not `z.input`/`z.output`) so docs
 * and editors show each field; resources/scheduler/schema.ts checks the zod
 * schema against them at compile time, both ways.
 *
 * @module
 */

/** A BPF MPTCP scheduler of the user's: a compiled object with a `mptcp_sched_ops` struct_ops map. */
export interface SchedulerObjectSpec {
  /** The object file's path (relative to the stack file's directory). */
  object: string;
  /** The struct_ops map in it (the C variable holding the ops table); absent: the object's only one. */
  map?: string;
  /** `mptcp_sched_ops.name`, the name the kernel lists it under (≤ 15 characters); absent: read from the object's BTF, and when given it must agree. */
  name?: string;
}

/** What new connections of the netns get: the kernel's, one sockform ships, or the user's. */
export type SchedulerChoice =
  | "default"
  | "roundRobin"
  | "redundant"
  | "backupFirst"
  | SchedulerObjectSpec;

/** Which subflows a path holds: those on a device, or those from one local address. */
export type PathMatch = { dev: string } | { local: string };

/** One declared path and its subflows' role. */
export interface SchedulerPathSpec {
  /** Which subflows are on the path. */
  match: PathMatch;
  /** `active` subflows carry data; `backup` ones only when no active one is usable. */
  role: "active" | "backup";
}

/** Roles that follow live subflow state (userspace path manager only), as the user writes them. */
export interface FailoverSpecInput {
  /** When an active path counts as failing: any threshold exceeded. */
  when: {
    /** Smoothed RTT above this many milliseconds. */
    rttMsAbove?: number;
    /** Retransmitted over sent segments above this fraction (0–1). */
    lossAbove?: number;
    /**
     * The path's send rate (bytes acknowledged per second, summed over its
     * subflows that held unacknowledged data all through the sample window)
     * below this: bytes/s, or a string such as `"2mbit"`. An idle path is
     * not judged.
     */
    sendRateBelow?: number | string;
  };
  /** The path (its device or address) promoted to active while every active path fails. */
  promote: string;
}

/** A validated failover rule: `sendRateBelow` in bytes/s. */
export interface FailoverSpec extends FailoverSpecInput {
  /** The thresholds, rates normalised. */
  when: Omit<FailoverSpecInput["when"], "sendRateBelow"> & { sendRateBelow?: number };
}

/** A Scheduler spec as the user writes it. */
export interface SchedulerSpecInput {
  /** The netns path; absent: the caller's netns. */
  netns?: string;
  /** Default `default`. */
  scheduler?: SchedulerChoice;
  /** Default none. */
  paths?: SchedulerPathSpec[];
  /** The dynamic rule, if any. */
  failover?: FailoverSpecInput;
}

/** A validated, normalised Scheduler spec (canonical addresses, defaults filled in). */
export interface SchedulerSpec extends SchedulerSpecInput {
  /** What new connections get. */
  scheduler: SchedulerChoice;
  /** The declared paths. */
  paths: SchedulerPathSpec[];
  /** The dynamic rule, rates in bytes/s. */
  failover?: FailoverSpec;
}
