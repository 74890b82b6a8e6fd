/**
 * Example stack: legacy TCP applications get MPTCP without LD_PRELOAD. By
 * default iperf3 and curl are converted anywhere, sshd never is. Try it (on
 * Linux ≥ 6.6 with MPTCP enabled) with
 * `deno run -A main.ts plan -s examples/mptcpify_stack.ts`.
 *
 * The environment narrows or widens the scope without editing the file:
 * `SOCKFORM_MPTCPIFY_COMMANDS`, `SOCKFORM_MPTCPIFY_CGROUPS` and
 * `SOCKFORM_MPTCPIFY_EXCLUDE` (comma-separated task names / cgroup v2 paths / task names).
 *
 * @module
 */
import { MptcpifyHook, Stack } from "../mod.ts";

/** What the example converts. */
export interface MptcpifyExample {
  commands?: string[];
  cgroups?: string[];
  exclude?: string[];
}

/**
 * A stack named `mptcpify` holding one hook, `legacy-apps`.
 *
 * @example Everything in one cgroup, except ssh
 * ```ts
 * const stack = mptcpifyStack({ cgroups: ["/sys/fs/cgroup/unified/legacy"], exclude: ["ssh"] });
 * ```
 */
export function mptcpifyStack(opts: MptcpifyExample = {}): Stack {
  return new Stack("mptcpify", [
    new MptcpifyHook("legacy-apps", {
      scope: { commands: opts.commands ?? ["iperf3", "curl"], cgroups: opts.cgroups ?? [] },
      exclude: { commands: opts.exclude ?? ["sshd"] },
      families: ["ipv4", "ipv6"],
    }),
  ]);
}

function listFromEnv(name: string): string[] | undefined {
  const raw = Deno.env.get(name);
  return raw === undefined ? undefined : raw.split(",").map((s) => s.trim()).filter(Boolean);
}

export default mptcpifyStack({
  commands: listFromEnv("SOCKFORM_MPTCPIFY_COMMANDS"),
  cgroups: listFromEnv("SOCKFORM_MPTCPIFY_CGROUPS"),
  exclude: listFromEnv("SOCKFORM_MPTCPIFY_EXCLUDE"),
});
