/**
 * Example stack: per-connection TCP tuning for one cgroup. Datacentre peers
 * get a fast SYN RTO, a larger initial window and bbr; HTTPS to the
 * documentation IPv6 range gets big buffers; MPTCP subflows leaving through
 * 10.1.3.0/24 (path b of the two-path lab) get cubic, a pacing cap and a
 * mark; 10 % of everything else tries bbr. Plan it with
 * `SOCKFORM_TCP_CGROUP=/sys/fs/cgroup/unified/web deno run -A main.ts plan -s examples/tcp_tuning_stack.ts`
 * (the cgroup must exist: `mkdir /sys/fs/cgroup/unified/web`; then start the
 * processes to tune in it with `echo $$ > /sys/fs/cgroup/unified/web/cgroup.procs`).
 * Counters per rule: `deno run -A main.ts show -s examples/tcp_tuning_stack.ts`.
 *
 * @module
 */
import { Stack, TcpTuning } from "../mod.ts";

/**
 * A stack named `tuning` holding one TcpTuning, `web`, on `cgroup`.
 *
 * @example Another cgroup
 * ```ts
 * const stack = tcpTuningStack("/sys/fs/cgroup/unified/web");
 * ```
 */
export function tcpTuningStack(cgroup: string): Stack {
  return new Stack("tuning", [
    new TcpTuning("web", {
      cgroup,
      rules: [
        {
          match: { remote: "10.0.0.0/8", subflow: false },
          set: { synRtoMs: 20, initCwnd: 40, congestion: "bbr" },
        },
        {
          match: { remote: "2001:db8::/32", remotePorts: [443] },
          set: { sndBuf: 4_194_304, rcvBuf: 4_194_304 },
        },
        {
          match: { local: "10.1.3.0/24", subflow: true },
          set: { congestion: "cubic", maxPacingRate: "20mbit", mark: 0x2 },
        },
        { match: {}, set: { congestion: "bbr" }, sample: 0.1 },
      ],
    }),
  ]);
}

export default tcpTuningStack(
  Deno.env.get("SOCKFORM_TCP_CGROUP") ?? "/sys/fs/cgroup/unified/web",
);
