/**
 * Reading a netns's MPTCP state and running PathManager operations on it,
 * each kernel change with its undo on the transaction.
 *
 * @module
 */
import type { Transaction } from "../../engine/types.ts";
import type { PmOp } from "../../resources/path_manager/reconcile.ts";
import type { PmEndpoint, PmOriginal, PmState } from "../../resources/path_manager/types.ts";
import { SYSCTL_FIELDS } from "../../resources/path_manager/schema.ts";
import { listInterfaces, type NetInterface } from "../system/interfaces.ts";
import {
  addEndpoint,
  deleteEndpoint,
  ENDPOINT_FLAG_BITS,
  type MptcpPm,
  setEndpointFlags,
  setLimits,
  withMptcpPm,
} from "../netlink/mptcp_pm.ts";
import { readSysctls, writeSysctl } from "../system/sysctl.ts";
import { CALLER_NETNS, netnsInode } from "../system/netns.ts";

/**
 * The path-manager mode knob: `path_manager` (Linux ≥ 6.15) or `pm_type` before.
 *
 * @example Is a sysctl the mode knob?
 * ```ts
 * (MODE_SYSCTLS as readonly string[]).includes("net.mptcp.pm_type"); // true
 * ```
 */
export const MODE_SYSCTLS = ["net.mptcp.path_manager", "net.mptcp.pm_type"] as const;

/**
 * Every sysctl a PathManager reads back.
 *
 * @example Reading them in a netns
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { readSysctls } from "../system/sysctl.ts";
 *
 * function clientSysctls() {
 *   return readSysctls(MANAGED_SYSCTLS, "/run/netns/client");
 * }
 * ```
 */
export const MANAGED_SYSCTLS: readonly string[] = [
  ...Object.values(SYSCTL_FIELDS).map((f) => f.sysctl),
  ...MODE_SYSCTLS,
];

/**
 * The inode of a netns, or null when the path is gone.
 *
 * @example Has the netns been recreated?
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { PmMemory } from "../../resources/path_manager/types.ts";
 *
 * function recreated(memory: PmMemory): boolean {
 *   return netnsInoOrNull("/run/netns/client") !== memory.netnsIno;
 * }
 * ```
 */
export function netnsInoOrNull(netns: string | null): number | null {
  try {
    return netnsInode(netns ?? CALLER_NETNS);
  } catch {
    return null;
  }
}

function withDevNames(endpoints: PmEndpoint[], interfaces: NetInterface[]): PmEndpoint[] {
  const names = new Map(interfaces.map((i) => [i.ifindex, i.name]));
  return endpoints.map((e) => {
    const dev = e.ifindex ? names.get(e.ifindex) : undefined;
    return dev ? { ...e, dev } : e;
  });
}

/**
 * Reads endpoints, limits and sysctls of a netns (null: the caller's). A
 * missing netns reads as empty with `netnsIno: null`.
 *
 * @example Reading a lab client
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function clientState() {
 *   return await readPmState("/run/netns/client");
 * }
 * ```
 */
export async function readPmState(
  netns: string | null,
  interfaces?: NetInterface[],
): Promise<PmState> {
  const netnsIno = netnsInoOrNull(netns);
  if (netnsIno === null) {
    return { netns, netnsIno, endpoints: [], limits: null, sysctls: {} };
  }
  const ns = netns ?? undefined;
  const ifaces = interfaces ?? await listInterfaces(ns);
  const { endpoints, limits } = withMptcpPm(ns, (pm) => ({
    endpoints: pm.listEndpoints(),
    limits: pm.getLimits(),
  }));
  const sysctls: Record<string, string> = {};
  for (const [name, value] of Object.entries(readSysctls(MANAGED_SYSCTLS, ns))) {
    if (value !== undefined) sysctls[name] = value;
  }
  const plain = endpoints.map(({ family: _family, ...e }) => e);
  return { netns, netnsIno, endpoints: withDevNames(plain, ifaces), limits, sysctls };
}

/**
 * The netns as the stack finds it, to be given back on destroy.
 *
 * @example Recording the originals at create
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function clientOriginal() {
 *   return originalOf(await readPmState("/run/netns/client"));
 * }
 * ```
 */
export function originalOf(state: PmState): PmOriginal {
  return {
    endpoints: state.endpoints.filter((e) => !e.flags.includes("implicit")),
    limits: state.limits ?? { subflows: 0, addAddrAccepted: 0 },
    sysctls: { ...state.sysctls },
  };
}

/** Flags the kernel accepts from us: named, and not the kernel-only `implicit`. */
function settable(flags: readonly string[]): string[] {
  return flags.filter((f) => f in ENDPOINT_FLAG_BITS && f !== "implicit");
}

function asNew(ep: Omit<PmEndpoint, "id"> & { id?: number }) {
  return {
    address: ep.address,
    flags: settable(ep.flags),
    ...(ep.id !== undefined ? { id: ep.id } : {}),
    ...(ep.port ? { port: ep.port } : {}),
    ...(ep.ifindex ? { ifindex: ep.ifindex } : {}),
  };
}

function runOne(pm: MptcpPm, ns: string | undefined, op: PmOp, tx: Transaction | null): void {
  switch (op.op) {
    case "sysctl": {
      writeSysctl(op.name, op.to, ns);
      const from = op.from;
      if (from !== undefined) {
        tx?.onRollback(`${op.name} = ${from}`, () => writeSysctl(op.name, from, ns));
      }
      return;
    }
    case "limit":
      pm.setLimits({ [op.key]: op.to });
      tx?.onRollback(`limit ${op.key} = ${op.from}`, () => setLimits({ [op.key]: op.from }, ns));
      return;
    case "delete": {
      pm.deleteEndpoint(op.endpoint.id);
      const again = asNew(op.endpoint);
      tx?.onRollback(`re-add endpoint ${op.endpoint.address}`, () => addEndpoint(again, ns));
      return;
    }
    case "add": {
      const stored = pm.addEndpoint(asNew(op.endpoint));
      tx?.onRollback(`delete endpoint ${stored.address}`, () => deleteEndpoint(stored.id, ns));
      return;
    }
    case "setFlags":
      pm.setEndpointFlags({ id: op.id }, settable(op.to));
      tx?.onRollback(
        `flags of endpoint ${op.address}`,
        () => setEndpointFlags({ id: op.id }, settable(op.from), ns),
      );
      return;
  }
}

/**
 * Runs operations in order on one netlink socket, registering an undo for
 * each before the next runs, so a failure halfway rolls back cleanly.
 *
 * @example Applying planned operations
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Transaction } from "../../engine/types.ts";
 * import { orderedOps, type PmAction } from "../../resources/path_manager/reconcile.ts";
 *
 * function apply(actions: PmAction[], tx: Transaction): void {
 *   runPmOps("/run/netns/client", orderedOps(actions), tx);
 * }
 * ```
 */
export function runPmOps(netns: string | null, ops: readonly PmOp[], tx: Transaction | null) {
  if (!ops.length) return;
  const ns = netns ?? undefined;
  withMptcpPm(ns, (pm) => {
    for (const op of ops) runOne(pm, ns, op, tx);
  });
}
