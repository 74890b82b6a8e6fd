/**
 * The XDP hook of a PolicyChain: the programs a device already runs at XDP
 * (read with `ip -j link show`, which reports native, generic and offloaded
 * programs alike), and the plan's refusal when one that is not ours holds a
 * device the chain wants: the kernel allows one XDP program per device and
 * mode (and never native and generic together), and an XDP link does not
 * replace an attached program, so sockform never does either.
 *
 * @module
 */
import { PlanError } from "../../engine/errors.ts";
import { programCommand } from "../system/programs.ts";
import { readLink } from "./kernel.ts";

/** One XDP program on a device. */
export interface XdpProgram {
  /** Its program id. */
  id: number;
  /** Its program name ("" when ip does not say). */
  name: string;
  /** `native`, `generic` or `offload`. */
  mode: string;
}

interface IpXdp {
  mode?: number;
  prog?: { id: number; name?: string };
  attached?: { mode: number; prog?: { id: number; name?: string } }[];
}

const MODES: Record<number, string> = { 1: "native", 2: "generic", 3: "offload" };

/**
 * The XDP programs attached to `dev` in `netns` (empty when none or the device is missing).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function onVethB(): void {
 *   xdpPrograms("/run/netns/edge", "veth-b"); // [{ id: 42, name: "chain_xdp", mode: "native" }]
 * }
 * ```
 */
export function xdpPrograms(netns: string | null, dev: string): XdpProgram[] {
  const ip = ["ip", "-j", "link", "show", "dev", dev];
  const argv = netns ? ["nsenter", `--net=${netns}`, ...ip] : ip;
  const out = programCommand(argv, { stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) return [];
  const [row] = JSON.parse(new TextDecoder().decode(out.stdout) || "[]") as { xdp?: IpXdp }[];
  const xdp = row?.xdp;
  if (!xdp) return [];
  const entries = xdp.attached ?? [{ mode: xdp.mode ?? 0, prog: xdp.prog }];
  return entries.flatMap((e) =>
    e.prog ? [{ id: e.prog.id, name: e.prog.name ?? "", mode: MODES[e.mode] ?? `${e.mode}` }] : []
  );
}

/**
 * Refuses the plan when a device the chain wants an XDP link on runs an XDP
 * program other than the one of the chain's own pinned link there.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function check(dir: string): void {
 *   refuseForeignXdp("edge", dir, "/run/netns/edge", [{ dev: "veth-b", pin: "link-xdp-veth-b", at: 1 }]);
 * }
 * ```
 */
export function refuseForeignXdp(
  name: string,
  dir: string,
  netns: string | null,
  links: readonly { dev: string; pin: string; at: number }[],
): void {
  for (const l of links) {
    const ours = readLink(dir, l.pin)?.progId;
    const theirs = xdpPrograms(netns, l.dev).filter((p) => p.id !== ours);
    if (!theirs.length) continue;
    const list = theirs.map((p) => `id ${p.id} ${p.name || "(unnamed)"}, ${p.mode}`).join("; ");
    throw new PlanError(
      name,
      `attach[${l.at}].hooks`,
      `${l.dev} already has an XDP program (${list}): an XDP link never replaces it and sockform never removes it; detach it, or drop "xdp" from ${l.dev}'s hooks`,
    );
  }
}
