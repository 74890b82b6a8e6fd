/**
 * Reading a netns's scheduling state (`net.mptcp.scheduler`, the struct_ops
 * links pinned in the resource directory, the endpoints' flags) and running
 * Scheduler operations on it, each kernel change with its undo on the
 * transaction.
 *
 * @module
 */
import type { Transaction } from "../../engine/types.ts";
import type { SchedOp } from "../../resources/scheduler/diff.ts";
import {
  type BpfSchedulerDesired,
  type BpfSource,
  linkPinName,
  type SchedLink,
  type SchedState,
} from "../../resources/scheduler/types.ts";
import { hasSysctl, readSysctl, writeSysctl } from "../system/sysctl.ts";
import { CALLER_NETNS, netnsInode } from "../system/netns.ts";
import { ENDPOINT_FLAG_BITS, setEndpointFlags, withMptcpPm } from "../netlink/mptcp_pm.ts";
import { openPin, openPinQuiet, pinFd, unpin } from "../libbpf/pins.ts";
import { StructOpsLink, StructOpsObject } from "../libbpf/struct_ops.ts";
import { type SchedulerObject, SHIPPED_SCHEDULERS } from "./bpf_schedulers.ts";
import { KernelCallError } from "../system/errno.ts";
import { createHash } from "node:crypto";

const SCHED_SYSCTL = "net.mptcp.scheduler";

/**
 * The inode of a netns, or null when the path is gone.
 *
 * @example
 * ```ts
 * const gone = schedNetnsIno("/run/netns/client") === null;
 * ```
 */
export function schedNetnsIno(netns: string | null): number | null {
  try {
    return netnsInode(netns ?? CALLER_NETNS);
  } catch {
    return null;
  }
}

/**
 * The schedulers the kernel lists (registered BPF ones included); empty when it has no list.
 *
 * @example
 * ```ts
 * availableSchedulers("/run/netns/client"); // ["default"]
 * ```
 */
export function availableSchedulers(netns: string | null): string[] {
  const ns = netns ?? undefined;
  if (!hasSysctl("net.mptcp.available_schedulers", ns)) return [];
  return readSysctl("net.mptcp.available_schedulers", ns).trim().split(/\s+/).filter(Boolean);
}

function readLinks(dir: string): SchedLink[] {
  const out: SchedLink[] = [];
  let names: string[];
  try {
    names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith("link_"));
  } catch {
    return out;
  }
  for (const name of names.sort()) {
    const fd = openPinQuiet(`${dir}/${name}`, "link");
    const kernelName = name.slice("link_".length);
    if (fd === null) {
      out.push({ kernelName, mapId: 0 });
      continue;
    }
    const link = StructOpsLink.fromFd(fd);
    try {
      out.push({ kernelName, mapId: link.mapId() });
    } finally {
      link.close();
    }
  }
  return out;
}

/**
 * Reads the scheduling state of a netns (null: the caller's) and the links
 * pinned in `dir`. A missing netns reads as empty with `netnsIno: null`.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ResourceRef } from "../../engine/types.ts";
 *
 * function observe(ref: ResourceRef) {
 *   return readSchedState("/run/netns/client", ref.dir);
 * }
 * ```
 */
export function readSchedState(netns: string | null, dir: string): SchedState {
  const netnsIno = schedNetnsIno(netns);
  const links = readLinks(dir);
  if (netnsIno === null) return { netns, netnsIno, scheduler: null, links, endpoints: [] };
  const ns = netns ?? undefined;
  const scheduler = hasSysctl(SCHED_SYSCTL, ns) ? readSysctl(SCHED_SYSCTL, ns).trim() : null;
  const endpoints = withMptcpPm(ns, (pm) => pm.listEndpoints()).map((e) => ({
    id: e.id,
    address: e.address,
    ...(e.port ? { port: e.port } : {}),
    flags: e.flags,
    ...(e.ifindex ? { ifindex: e.ifindex } : {}),
  }));
  return { netns, netnsIno, scheduler, links, endpoints };
}

/**
 * The object of a BPF scheduler source: a shipped one, or a user's file read now.
 *
 * @example
 * ```ts
 * const obj = await loadSchedulerSource({ shipped: "roundRobin" }, "sf_round_robin");
 * ```
 */
export async function loadSchedulerSource(
  source: BpfSource,
  kernelName: string,
): Promise<SchedulerObject> {
  if ("shipped" in source) return SHIPPED_SCHEDULERS[source.shipped];
  const object = await Deno.readFile(source.object);
  return {
    object,
    objectHash: createHash("sha256").update(object).digest("hex"),
    mapName: source.map,
    kernelName,
  };
}

async function objectFor(bpf: BpfSchedulerDesired): Promise<SchedulerObject> {
  const obj = await loadSchedulerSource(bpf.source, bpf.kernelName);
  if (obj.objectHash !== bpf.objectHash) {
    throw new Error(`the object of ${bpf.kernelName} changed since the plan: plan again`);
  }
  return obj;
}

/** Registers `obj` and pins its link at `pin`; the undo (unpin, which unregisters) comes first. */
function registerPinned(obj: SchedulerObject, pin: string, tx: Transaction | null): void {
  const ops = StructOpsObject.load(obj.object, obj.mapName, obj.mapName);
  try {
    tx?.onRollback(`unregister ${obj.kernelName}`, () => unpin(pin));
    const link = ops.register();
    link.pinAndClose(pin);
  } finally {
    ops.close();
  }
}

async function register(dir: string, bpf: BpfSchedulerDesired, tx: Transaction | null) {
  const obj = await objectFor(bpf);
  const pin = `${dir}/${linkPinName(bpf.kernelName)}`;
  unpin(pin); // a detached link (drift) leaves its pin
  registerPinned(obj, pin, tx);
}

/**
 * Swaps the program of the registered scheduler pinned at `pin`: one link
 * update where the kernel has it, else detach, register the new table and
 * move the pin. Returns whether the link update did it (hitless).
 */
function swapProgram(obj: SchedulerObject, pin: string): boolean {
  const fd = openPin(pin, "link");
  if (fd === null) throw new Error(`no struct_ops link pinned at ${pin}`);
  const link = StructOpsLink.fromFd(fd);
  const ops = StructOpsObject.load(obj.object, obj.mapName, obj.mapName);
  try {
    try {
      link.updateMap(ops.mapFd);
      return true;
    } catch (e) {
      if (!(e instanceof KernelCallError) || e.errno !== 95) throw e;
    }
    link.detach();
    const next = ops.register();
    try {
      unpin(pin);
      next.pin(pin);
    } finally {
      next.close();
    }
    return false;
  } finally {
    ops.close();
    link.close();
  }
}

async function replace(
  dir: string,
  op: Extract<SchedOp, { op: "replace" }>,
  tx: Transaction | null,
) {
  const obj = await objectFor(op.bpf);
  const pin = `${dir}/${linkPinName(op.bpf.kernelName)}`;
  const from = op.from;
  if (from) {
    const previous = await loadSchedulerSource(from.source, from.kernelName).catch(() => null);
    if (previous?.objectHash === from.objectHash) {
      tx?.onRollback(`put back the previous ${from.kernelName}`, () => swapProgram(previous, pin));
    }
  }
  swapProgram(obj, pin);
}

/** Unpins the link (re-pinned on rollback); the commit closes the last handle, which unregisters. */
function unregister(dir: string, kernelName: string, tx: Transaction | null): void {
  const pin = `${dir}/${linkPinName(kernelName)}`;
  const fd = openPinQuiet(pin, "link");
  if (fd === null) return unpin(pin);
  const link = StructOpsLink.fromFd(fd);
  if (!tx) {
    unpin(pin);
    return link.close();
  }
  tx.onRollback(`re-pin ${pin}`, () => {
    pinFd(link.fd, pin);
    link.close();
  });
  unpin(pin);
  tx.onCommit(`unregister ${kernelName}`, () => link.close());
}

function withBackup(flags: readonly string[], backup: boolean): string[] {
  const named = flags.filter((f) => f in ENDPOINT_FLAG_BITS && f !== "implicit" && f !== "backup");
  return backup ? [...named, "backup"] : named;
}

function runSysctl(
  ns: string | undefined,
  op: Extract<SchedOp, { op: "sysctl" }>,
  tx: Transaction | null,
) {
  writeSysctl(SCHED_SYSCTL, op.to, ns);
  const from = op.from;
  if (from !== null) {
    tx?.onRollback(`${SCHED_SYSCTL} = ${from}`, () => writeSysctl(SCHED_SYSCTL, from, ns));
  }
}

function runSetBackup(
  ns: string | undefined,
  op: Extract<SchedOp, { op: "setBackup" }>,
  tx: Transaction | null,
) {
  setEndpointFlags({ id: op.id }, withBackup(op.flags, op.to), ns);
  tx?.onRollback(
    `backup flag of endpoint ${op.address}`,
    () => setEndpointFlags({ id: op.id }, withBackup(op.flags, op.flags.includes("backup")), ns),
  );
}

/**
 * Runs operations in order, registering an undo for each kernel change.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ResourceRef, Transaction } from "../../engine/types.ts";
 * import { orderedSchedOps, type SchedAction } from "../../resources/scheduler/diff.ts";
 *
 * async function apply(ref: ResourceRef, actions: SchedAction[], tx: Transaction): Promise<void> {
 *   await runSchedOps("/run/netns/client", ref.dir, orderedSchedOps(actions), tx);
 * }
 * ```
 */
export async function runSchedOps(
  netns: string | null,
  dir: string,
  ops: readonly SchedOp[],
  tx: Transaction | null,
): Promise<void> {
  const ns = netns ?? undefined;
  for (const op of ops) {
    if (op.op === "register") await register(dir, op.bpf, tx);
    else if (op.op === "replace") await replace(dir, op, tx);
    else if (op.op === "unregister") unregister(dir, op.kernelName, tx);
    else if (op.op === "sysctl") runSysctl(ns, op, tx);
    else runSetBackup(ns, op, tx);
  }
}
