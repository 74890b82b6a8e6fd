/**
 * The interfaces and addresses of a network namespace, read with iproute2's
 * JSON output (`ip -j addr show`) inside the netns through nsenter(1), which
 * accepts any netns path, not only names under /run/netns.
 *
 * @module
 */
import { KernelCallError } from "./errno.ts";
import { canonicalAddress, type InetFamily } from "../../resources/common/inet.ts";
import { programCommand } from "./programs.ts";

/** One address on an interface. */
export interface InterfaceAddress {
  address: string;
  family: InetFamily;
  prefixLength: number;
  /** `global`, `link`, `host`, … as iproute2 names the scope. */
  scope: string;
}

/** One interface of a netns. */
export interface NetInterface {
  name: string;
  ifindex: number;
  /** The administrative UP flag. */
  up: boolean;
  addresses: InterfaceAddress[];
}

interface IpAddrJson {
  ifindex: number;
  ifname: string;
  flags?: string[];
  addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
}

/**
 * Turns `ip -j addr show` output into `NetInterface`s. Pure; exported for tests.
 *
 * @example Parsing one loopback row
 * ```ts
 * const ifaces = parseIpAddrJson('[{"ifindex":1,"ifname":"lo","flags":["UP"],"addr_info":[]}]');
 * ```
 */
export function parseIpAddrJson(text: string): NetInterface[] {
  const rows = JSON.parse(text) as IpAddrJson[];
  return rows.map((row) => ({
    name: row.ifname,
    ifindex: row.ifindex,
    up: (row.flags ?? []).includes("UP"),
    addresses: (row.addr_info ?? [])
      .filter((a) => a.family === "inet" || a.family === "inet6")
      .map((a) => ({
        address: canonicalAddress(a.local),
        family: a.family === "inet" ? "ipv4" : "ipv6",
        prefixLength: a.prefixlen,
        scope: a.scope,
      })),
  }));
}

/** The argv that runs `cmd` inside the netns at `netns` (or here when undefined). */
function inNetnsArgv(netns: string | undefined, cmd: string[]): string[] {
  return netns ? ["nsenter", `--net=${netns}`, "--", ...cmd] : cmd;
}

/**
 * Lists the interfaces of a netns (default: the caller's) with their IPv4 and
 * IPv6 addresses.
 *
 * @example Which interface carries 10.1.2.1?
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function carrier() {
 *   const ifaces = await listInterfaces("/run/netns/client");
 *   return ifaces.find((i) => i.addresses.some((a) => a.address === "10.1.2.1"));
 * }
 * ```
 */
export async function listInterfaces(netns?: string): Promise<NetInterface[]> {
  const argv = inNetnsArgv(netns, ["ip", "-j", "addr", "show"]);
  const out = await programCommand(argv, { stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    const why = new TextDecoder().decode(out.stderr).trim();
    throw new KernelCallError(
      `ip -j addr show (netns ${netns ?? "self"})`,
      2,
      why || `exit ${out.code}`,
    );
  }
  return parseIpAddrJson(new TextDecoder().decode(out.stdout));
}
