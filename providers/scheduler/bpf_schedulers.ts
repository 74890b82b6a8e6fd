/**
 * The BPF MPTCP schedulers sockform ships (bpf/round_robin.bpf.c, bpf/redundant.bpf.c,
 * bpf/backup_first.bpf.c), and registering, replacing and releasing one through a
 * struct_ops link. A registered scheduler shows up in `net.mptcp.available_schedulers`
 * under its kernel name; `net.mptcp.scheduler` picks it for connections created after.
 *
 * @module
 */
import * as roundRobin from "../../bpf/gen/round_robin.ts";
import * as redundant from "../../bpf/gen/redundant.ts";
import * as backupFirst from "../../bpf/gen/backup_first.ts";
import { type StructOpsLink, StructOpsObject } from "../libbpf/struct_ops.ts";
import { KernelCallError } from "../system/errno.ts";

/** A scheduler object: its bytes, its struct_ops map and the name the kernel lists. */
export interface SchedulerObject {
  object: Uint8Array;
  objectHash: string;
  /** The `.struct_ops` map (the C variable) that holds the ops table. */
  mapName: string;
  /** `mptcp_sched_ops.name`: what `net.mptcp.scheduler` takes. */
  kernelName: string;
}

/** The names of the schedulers sockform ships. */
export type ShippedScheduler = "roundRobin" | "redundant" | "backupFirst";

/** sockform's own schedulers, by the name a stack declares. */
export const SHIPPED_SCHEDULERS: Readonly<Record<ShippedScheduler, SchedulerObject>> = {
  roundRobin: { ...roundRobin, mapName: roundRobin.maps.round_robin, kernelName: "sf_round_robin" },
  redundant: { ...redundant, mapName: redundant.maps.redundant, kernelName: "sf_redundant" },
  backupFirst: {
    ...backupFirst,
    mapName: backupFirst.maps.backup_first,
    kernelName: "sf_backup_first",
  },
};

/** A registered scheduler: close `ops` and `link` to release it (unless the link is pinned). */
export interface RegisteredScheduler {
  kernelName: string;
  ops: StructOpsObject;
  link: StructOpsLink;
}

/**
 * Loads a scheduler and registers it. Throws KernelCallError when the kernel refuses it
 * (check {@linkcode bpfSchedulerSupport} first for a clear reason).
 *
 * @example Register round-robin, pick it for new connections, release it
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function roundRobinOnce(): void {
 *   const s = registerScheduler(SHIPPED_SCHEDULERS.roundRobin);
 *   // sysctl net.mptcp.scheduler=sf_round_robin in the netns, then connect...
 *   releaseScheduler(s);
 * }
 * ```
 */
export function registerScheduler(sched: SchedulerObject): RegisteredScheduler {
  const ops = StructOpsObject.load(sched.object, sched.mapName, sched.mapName);
  try {
    return { kernelName: sched.kernelName, ops, link: ops.register() };
  } catch (e) {
    ops.close();
    throw e;
  }
}

/** How {@linkcode replaceScheduler} swapped the program. */
export interface Replacement {
  registered: RegisteredScheduler;
  /**
   * True when one link update swapped the ops table in place. False when the kernel has
   * no update for MPTCP schedulers (EOPNOTSUPP): the old table was unregistered and the new
   * one registered; connections that had the old one keep it until they close, and
   * connections created in between get the kernel's default scheduler.
   */
  hitless: boolean;
}

/**
 * Replaces a registered scheduler with a new build of one with the same kernel name:
 * a struct_ops link update where the kernel allows it, else unregister then register.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function toRoundRobin(current: RegisteredScheduler) {
 *   const { registered, hitless } = replaceScheduler(current, SHIPPED_SCHEDULERS.roundRobin);
 *   return hitless ? registered : null;
 * }
 * ```
 */
export function replaceScheduler(current: RegisteredScheduler, next: SchedulerObject): Replacement {
  const ops = StructOpsObject.load(next.object, next.mapName, next.mapName);
  try {
    current.link.updateMap(ops.mapFd);
    current.ops.close();
    return { registered: { kernelName: next.kernelName, ops, link: current.link }, hitless: true };
  } catch (e) {
    if (!(e instanceof KernelCallError) || e.errno !== 95) {
      ops.close();
      throw e;
    }
  }
  try {
    current.link.detach(); // unregisters even when the link is pinned
    releaseScheduler(current);
    return {
      registered: { kernelName: next.kernelName, ops, link: ops.register() },
      hitless: false,
    };
  } catch (e) {
    ops.close();
    throw e;
  }
}

/** Unregisters a scheduler and frees what this process held of it (idempotent). */
export function releaseScheduler(s: RegisteredScheduler): void {
  s.link.close();
  s.ops.close();
}
