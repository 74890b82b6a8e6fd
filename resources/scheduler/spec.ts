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
  /** The struct_ops map in it (the C variable holding the ops table). */
  map: string;
  /** `mptcp_sched_ops.name`, the name the kernel lists it under (≤ 15 characters). */
  name: string;
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

/** Roles that follow live subflow state (userspace path manager only). */
export interface FailoverSpec {
  /** When an active path counts as failing: any threshold exceeded. */
  when: {
    /** Smoothed RTT above this many milliseconds. */
    rttMsAbove?: number;
    /** Retransmitted over sent segments above this fraction (0–1). */
    lossAbove?: number;
  };
  /** The path (its device or address) promoted to active while every active path fails. */
  promote: string;
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
  failover?: FailoverSpec;
}

/** A validated, normalised Scheduler spec (canonical addresses, defaults filled in). */
export interface SchedulerSpec extends SchedulerSpecInput {
  /** What new connections get. */
  scheduler: SchedulerChoice;
  /** The declared paths. */
  paths: SchedulerPathSpec[];
}
