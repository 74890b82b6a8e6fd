/**
 * MPTCP subflows as the kernel's socket diag reports them (`ss -tinH`), and
 * per-interface byte counters, so labs can show which path carries bytes.
 *
 * An MPTCP subflow is a TCP socket whose `ss -i` line carries
 * `tcp-ulp-mptcp ... token:<remote>(id:N)/<local>(id:M)`; the local token
 * names its MPTCP connection (the same token `ss -M` prints for it).
 *
 * @module
 */
import { inNetns } from "../providers/system/netns.ts";
import { inNetnsArgv, run } from "./command.ts";

/** One MPTCP subflow with its TCP byte counters. */
export interface SubflowStat {
  local: string;
  localPort: number;
  remote: string;
  remotePort: number;
  /** The local MPTCP connection token (hex) the subflow belongs to. */
  token: string;
  bytesSent: number;
  bytesAcked: number;
  bytesReceived: number;
}

/** One MPTCP connection: its subflows and their summed counters. */
export interface MptcpConnectionStat {
  token: string;
  subflows: SubflowStat[];
  bytesAcked: number;
  bytesReceived: number;
}

function splitEndpoint(text: string): [string, number] {
  const at = text.lastIndexOf(":");
  // ss writes a device-bound socket as `10.1.3.1%veth-b:port`: the device is not part of the address.
  const host = text.slice(0, at).replace(/%[^\]]*/, "").replace(/^\[|\]$/g, "").replace(
    /^::ffff:/,
    "",
  );
  return [host, Number(text.slice(at + 1))];
}

function counter(info: string, name: string): number {
  const m = new RegExp(`\\b${name}:(\\d+)`).exec(info);
  return m ? Number(m[1]) : 0;
}

/**
 * Parses `ss -tinH` output into the MPTCP subflows it lists; plain TCP
 * sockets are skipped. Pure; exported for tests.
 *
 * @example Counting subflows in captured output
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { run } from "./command.ts";
 *
 * async function count(): Promise<number> {
 *   return parseSsSubflows(await run(["ss", "-tinH"])).length;
 * }
 * ```
 */
export function parseSsSubflows(text: string): SubflowStat[] {
  const out: SubflowStat[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length - 1; i++) {
    const head = lines[i].trim().split(/\s+/);
    const info = lines[i + 1];
    // The head line ends with "local peer", with or without the State column.
    if (!/^\s/.test(info) || head.length < 4) continue;
    const token = /tcp-ulp-mptcp.*?\btoken:[0-9a-f]+\(id:\d+\)\/([0-9a-f]+)\(id:\d+\)/.exec(info);
    if (!token) continue;
    const [local, localPort] = splitEndpoint(head[head.length - 2]);
    const [remote, remotePort] = splitEndpoint(head[head.length - 1]);
    out.push({
      local,
      localPort,
      remote,
      remotePort,
      token: token[1],
      bytesSent: counter(info, "bytes_sent"),
      bytesAcked: counter(info, "bytes_acked"),
      bytesReceived: counter(info, "bytes_received"),
    });
  }
  return out;
}

/**
 * Groups subflows by MPTCP connection, busiest (most bytes moved) first.
 *
 * @example The data connection of an iperf3 run
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function dataConnection() {
 *   const [data] = groupByConnection(await listSubflows("sf-lab-c-1a2b3c"));
 *   return data;
 * }
 * ```
 */
export function groupByConnection(subflows: readonly SubflowStat[]): MptcpConnectionStat[] {
  const byToken = new Map<string, SubflowStat[]>();
  for (const sf of subflows) byToken.set(sf.token, [...(byToken.get(sf.token) ?? []), sf]);
  const conns = [...byToken].map(([token, sfs]) => ({
    token,
    subflows: sfs,
    bytesAcked: sfs.reduce((n, s) => n + s.bytesAcked, 0),
    bytesReceived: sfs.reduce((n, s) => n + s.bytesReceived, 0),
  }));
  const moved = (c: MptcpConnectionStat) => c.bytesAcked + c.bytesReceived;
  return conns.sort((x, y) => moved(y) - moved(x));
}

/**
 * The established MPTCP subflows in a netns (by name), from `ss -tinH`.
 *
 * @example Which client addresses have subflows?
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { TwoPathLab } from "./two_path_lab.ts";
 *
 * async function clientLocals(lab: TwoPathLab): Promise<Set<string>> {
 *   return new Set((await listSubflows(lab.client.name)).map((s) => s.local));
 * }
 * ```
 */
export async function listSubflows(netnsName: string): Promise<SubflowStat[]> {
  const text = await run(inNetnsArgv(netnsName, ["ss", "-tinH", "state", "established"]));
  return parseSsSubflows(text);
}

/** Byte counters of one interface. */
export interface InterfaceCounters {
  rxBytes: number;
  txBytes: number;
}

/**
 * Parses /proc/net/dev into per-interface byte counters. Pure.
 *
 * @example Reading the counters of this netns
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function counters() {
 *   return parseProcNetDev(Deno.readTextFileSync("/proc/net/dev"));
 * }
 * ```
 */
export function parseProcNetDev(text: string): Record<string, InterfaceCounters> {
  const out: Record<string, InterfaceCounters> = {};
  for (const line of text.split("\n").slice(2)) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const fields = m[2].trim().split(/\s+/).map(Number);
    out[m[1]] = { rxBytes: fields[0], txBytes: fields[8] };
  }
  return out;
}

/**
 * Per-interface byte counters of a netns (by path), read from /proc/net/dev
 * inside it.
 *
 * @example Bytes the client sent on each path
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { TwoPathLab } from "./two_path_lab.ts";
 *
 * function sentPerPath(lab: TwoPathLab): void {
 *   const c = readInterfaceCounters(lab.client.path);
 *   console.log(c["veth-a"].txBytes, c["veth-b"].txBytes);
 * }
 * ```
 */
export function readInterfaceCounters(netnsPath: string): Record<string, InterfaceCounters> {
  return parseProcNetDev(
    inNetns(netnsPath, () => Deno.readTextFileSync("/proc/thread-self/net/dev")),
  );
}
