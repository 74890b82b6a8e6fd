/**
 * `fromInterfaces`: the endpoints for the addresses present on matching
 * interfaces. Pure; the driver passes in the netns's interfaces.
 *
 * @module
 */
import type { FromInterfacesSpec } from "./schema.ts";
import type { DesiredEndpoint } from "./types.ts";

/** The parts of an interface the expansion looks at. */
export interface InterfaceView {
  name: string;
  ifindex: number;
  addresses: { address: string; family: "ipv4" | "ipv6"; scope: string }[];
}

/**
 * Shell-style glob over interface names: `*` any run, `?` one character.
 *
 * @example Matching interface names
 * ```ts
 * globMatch("eth*", "eth0"); // true
 * globMatch("wwan?", "wwan10"); // false
 * ```
 */
export function globMatch(pattern: string, name: string): boolean {
  const body = pattern.split("").map((c) =>
    c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g, "\\$&")
  ).join("");
  return new RegExp(`^${body}$`).test(name);
}

/**
 * True for fe80::/10 and 169.254.0.0/16 addresses.
 *
 * @example Skipping link-local addresses
 * ```ts
 * isLinkLocal("fe80::1"); // true
 * ```
 */
export function isLinkLocal(address: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(address) || address.startsWith("169.254.");
}

/**
 * The endpoints `spec` asks for on these interfaces, in interface then
 * address order. Loopback (host-scope) addresses never qualify.
 *
 * @example Subflow endpoints on every veth
 * ```ts
 * const interfaces: InterfaceView[] = [
 *   { name: "veth0", ifindex: 3, addresses: [{ address: "10.1.1.1", family: "ipv4", scope: "global" }] },
 * ];
 * const eps = expandFromInterfaces(
 *   { include: ["veth*"], exclude: [], families: ["ipv4"], flags: ["subflow"], skipLinkLocal: true },
 *   interfaces,
 * );
 * ```
 */
export function expandFromInterfaces(
  spec: FromInterfacesSpec,
  interfaces: readonly InterfaceView[],
): DesiredEndpoint[] {
  const out: DesiredEndpoint[] = [];
  for (const iface of interfaces) {
    if (!spec.include.some((g) => globMatch(g, iface.name))) continue;
    if (spec.exclude.some((g) => globMatch(g, iface.name))) continue;
    for (const a of iface.addresses) {
      if (!spec.families.includes(a.family) || a.scope === "host") continue;
      if (spec.skipLinkLocal && (a.scope === "link" || isLinkLocal(a.address))) continue;
      out.push({
        address: a.address,
        flags: [...spec.flags],
        ifindex: iface.ifindex,
        dev: iface.name,
        path: `fromInterfaces.${iface.name}[${a.address}]`,
      });
    }
  }
  return out;
}
