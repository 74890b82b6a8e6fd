/**
 * The classic tc path for kernels without tcx (before 6.6): a clsact qdisc
 * and a direct-action `bpf` filter per device and hook, added with `tc`
 * (run in the chain's netns through `nsenter --net`, which keeps this
 * process's mounts, so the bpffs pins stay visible; `ip netns exec` remounts
 * /sys). Our filters are found by the program they run. A `tc-<hook>-<dev>`
 * pin of that program is the journal entry written before the filter is
 * added, and the `tc-netns` map holds the netns path, so even an unfinished
 * create can be cleaned up. The clsact qdisc is left in place: other
 * filters may share it.
 *
 * @module
 */
import type { Hook } from "../../resources/policy_chain.ts";
import { programCommand } from "../system/programs.ts";
import { kernelChanged } from "../libbpf/change_hook.ts";
import { BpfMap } from "../libbpf/map.ts";
import { BPF_MAP_TYPE_ARRAY } from "../libbpf/uapi.ts";

/** The journal map's pin name. */
export const TC_NETNS_PIN = "tc-netns";
const PATH_MAX = 256;

/** One `bpf` filter on a hook. */
export interface TcFilter {
  pref: number;
  handle: string;
  progId: number;
  /** The program's name (`chain_ingress` or `chain_egress` for ours). */
  progName: string;
}

/**
 * Runs `tc` with `args` in `netns` (through `nsenter --net`) and returns its stdout.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function ingressFilters(): string {
 *   return tc("/run/netns/edge", ["-j", "filter", "show", "dev", "eth1", "ingress"]);
 * }
 * ```
 */
export function tc(netns: string | null, args: string[]): string {
  const argv = netns ? ["nsenter", `--net=${netns}`, "tc", ...args] : ["tc", ...args];
  const out = programCommand(argv, { stdout: "piped", stderr: "piped" }).outputSync();
  const text = (b: Uint8Array) => new TextDecoder().decode(b).trim();
  if (!out.success) throw new Error(`${argv.join(" ")}: ${text(out.stderr)}`);
  return text(out.stdout);
}

/**
 * The `bpf` filters on a device's hook, or null when the device is missing.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function filters(): void {
 *   tcFilters("/run/netns/edge", "eth1", "ingress"); // [{ pref: 49152, handle: "0x1", progId: 42 }]
 * }
 * ```
 */
export function tcFilters(netns: string | null, dev: string, hook: Hook): TcFilter[] | null {
  let text: string;
  try {
    text = tc(netns, ["-j", "filter", "show", "dev", dev, hook]);
  } catch (e) {
    if (/Cannot find device|No such device/.test(String(e))) return null;
    throw e;
  }
  const rows = JSON.parse(text || "[]") as {
    pref: number;
    kind: string;
    options?: { handle?: string; prog?: { id: number; name?: string } };
  }[];
  return rows.filter((r) => r.kind === "bpf" && r.options?.prog).map((r) => ({
    pref: r.pref,
    handle: r.options!.handle ?? "0x1",
    progId: r.options!.prog!.id,
    progName: r.options!.prog!.name ?? "",
  }));
}

/**
 * Adds a direct-action filter running the program pinned at `progPin`
 * (adding the clsact qdisc when the device has none).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function attachEth1(dir: string): void {
 *   tcAttach("/run/netns/edge", "eth1", "ingress", `${dir}/tc-ingress-eth1`);
 * }
 * ```
 */
export function tcAttach(netns: string | null, dev: string, hook: Hook, progPin: string): void {
  const qdiscs = JSON.parse(tc(netns, ["-j", "qdisc", "show", "dev", dev]) || "[]") as {
    kind: string;
  }[];
  if (!qdiscs.some((q) => q.kind === "clsact")) {
    tc(netns, ["qdisc", "add", "dev", dev, "clsact"]);
  }
  tc(netns, ["filter", "add", "dev", dev, hook, "bpf", "da", "object-pinned", progPin]);
  kernelChanged(`tc filter add dev ${dev} ${hook}`, false);
}

/**
 * Adds the filter for `progId` unless one already runs it (an undo that may
 * run before or after what it undoes).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function ensureEth1(netns: string, dir: string) {
 *   return tcEnsure(netns, "eth1", "ingress", `${dir}/tc-ingress-eth1`, 42);
 * }
 * ```
 */
export function tcEnsure(
  netns: string | null,
  dev: string,
  hook: Hook,
  progPin: string,
  progId: number,
): void {
  if (tcFilters(netns, dev, hook)?.some((f) => f.progId === progId)) return;
  tcAttach(netns, dev, hook, progPin);
}

/**
 * Removes the filters on a hook that run program `progId` (none: a no-op).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function detach(): void {
 *   tcDetach("/run/netns/edge", "eth1", "ingress", 42);
 * }
 * ```
 */
export function tcDetach(netns: string | null, dev: string, hook: Hook, progId: number): void {
  for (const f of tcFilters(netns, dev, hook) ?? []) {
    if (f.progId !== progId) continue;
    const args = ["filter", "del", "dev", dev, hook, "pref", `${f.pref}`, "handle", f.handle];
    tc(netns, [...args, "bpf"]);
    kernelChanged(`tc filter del dev ${dev} ${hook}`, true);
  }
}

/**
 * A new journal map holding the netns path ("" for the caller's), not yet pinned.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function journal(): void {
 *   const map = netnsJournal("/run/netns/edge");
 * }
 * ```
 */
export function netnsJournal(netns: string | null): BpfMap {
  const map = BpfMap.create(BPF_MAP_TYPE_ARRAY, "pc_tc_netns", 4, PATH_MAX, 1);
  const value = new Uint8Array(PATH_MAX);
  value.set(new TextEncoder().encode(netns ?? "").subarray(0, PATH_MAX - 1));
  map.update(new Uint8Array(4), value);
  return map;
}

/**
 * The netns path a journal map holds ("" → null, the caller's).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { BpfMap } from "../libbpf/map.ts";
 *
 * function journaledNetns(map: BpfMap): string | null {
 *   return readNetnsJournal(map); // "/run/netns/edge"
 * }
 * ```
 */
export function readNetnsJournal(map: BpfMap): string | null {
  const raw = map.lookup(new Uint8Array(4));
  if (!raw) return null;
  const end = raw.indexOf(0);
  const text = new TextDecoder().decode(raw.subarray(0, end < 0 ? raw.length : end));
  return text || null;
}

/**
 * A device's ifindex in the netns, or 0 when it is missing.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function eth1Index(): void {
 *   devIfindex("/run/netns/edge", "eth1"); // 3
 * }
 * ```
 */
export function devIfindex(netns: string | null, dev: string): number {
  const argv = netns
    ? ["nsenter", `--net=${netns}`, "ip", "-j", "link", "show", "dev", dev]
    : ["ip", "-j", "link", "show", "dev", dev];
  const out = programCommand(argv, { stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) return 0;
  const [row] = JSON.parse(new TextDecoder().decode(out.stdout) || "[]") as { ifindex: number }[];
  return row?.ifindex ?? 0;
}

/**
 * Filters on a hook that run a chain program no pin under the state root
 * holds: what a killed apply leaves once its pins are gone (their programs
 * were replaced, or the unfinished directory was removed).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { sockformOwners } from "../libbpf/attachments.ts";
 *
 * function stale(netns: string, root: string): number[] {
 *   return staleChainFilters(netns, "eth1", "ingress", new Set([42]), sockformOwners(root)); // [37]
 * }
 * ```
 */
export function staleChainFilters(
  netns: string | null,
  dev: string,
  hook: Hook,
  keep: ReadonlySet<number>,
  pinned: ReadonlyMap<number, string>,
): number[] {
  return (tcFilters(netns, dev, hook) ?? []).filter((f) =>
    f.progName === `chain_${hook}` && !keep.has(f.progId) && !pinned.has(f.progId)
  ).map((f) => f.progId);
}
