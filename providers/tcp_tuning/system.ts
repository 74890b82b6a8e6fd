/**
 * Machine facts a TcpTuning plan depends on: the kernel's CONFIG_HZ, the congestion controls it has, and the
 * socket buffer caps.
 *
 * @module
 */
import { gunzipSync } from "node:zlib";
import { PlanError } from "../../engine/errors.ts";
import { probe, progTypeSupported } from "../system/features.ts";
import { BPF_PROG_TYPE_SOCK_OPS } from "../libbpf/uapi.ts";

/**
 * Everything the program needs: cgroup bpf_link (5.7), bpf_loop (5.17) and
 * bpf_skc_to_mptcp_sock (5.19). Helpers cannot be probed without loading, so
 * this checks the sock_ops program type and the release.
 */
export const TCP_TUNING_KERNEL = probe(
  "BPF sock_ops on cgroup links with bpf_loop and bpf_skc_to_mptcp_sock",
  "5.19",
  () => releaseAtLeast(Deno.osRelease(), 5, 19) && progTypeSupported(BPF_PROG_TYPE_SOCK_OPS),
);

/**
 * True when a `uname -r` release is at least major.minor.
 *
 * @example Comparing releases
 * ```ts
 * releaseAtLeast("6.18.44-fc-v595", 5, 19); // true
 * ```
 */
export function releaseAtLeast(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const [ma, mi] = [Number(m[1]), Number(m[2])];
  return ma > major || (ma === major && mi >= minor);
}

let hzCache: number | undefined;

function configHz(text: string): number | undefined {
  const m = /^CONFIG_HZ=(\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

function readConfig(): string | undefined {
  try {
    return new TextDecoder().decode(gunzipSync(Deno.readFileSync("/proc/config.gz")));
  } catch {
    try {
      return Deno.readTextFileSync(`/boot/config-${Deno.osRelease()}`);
    } catch {
      return undefined;
    }
  }
}

function timerListJiffies(): { jiffies: number; ns: number } | undefined {
  try {
    const text = Deno.readTextFileSync("/proc/timer_list");
    const j = /^jiffies: (\d+)$/m.exec(text);
    const now = /^now at (\d+) nsecs$/m.exec(text);
    return j && now ? { jiffies: Number(j[1]), ns: Number(now[1]) } : undefined;
  } catch {
    return undefined;
  }
}

async function measuredHz(): Promise<number | undefined> {
  const a = timerListJiffies();
  await new Promise((r) => setTimeout(r, 200));
  const b = timerListJiffies();
  if (!a || !b || b.ns <= a.ns) return undefined;
  const hz = (b.jiffies - a.jiffies) / ((b.ns - a.ns) / 1e9);
  return [100, 250, 300, 1000].reduce((best, x) =>
    Math.abs(x - hz) < Math.abs(best - hz) ? x : best
  );
}

/**
 * The kernel's CONFIG_HZ: from /proc/config.gz or /boot/config-$(uname -r),
 * else measured from /proc/timer_list. Throws `PlanError` when none works.
 *
 * @example Milliseconds to jiffies
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function jiffies(ms: number): Promise<number> {
 *   return Math.ceil((ms * (await kernelHz("dc"))) / 1000);
 * }
 * ```
 */
export async function kernelHz(resource: string): Promise<number> {
  if (hzCache) return hzCache;
  const config = readConfig();
  const hz = (config && configHz(config)) || await measuredHz();
  if (!hz) {
    throw new PlanError(
      resource,
      "",
      "cannot tell the kernel's CONFIG_HZ (no /proc/config.gz, /boot/config-*, or /proc/timer_list), " +
        "which the SYN RTO reply is counted in",
    );
  }
  hzCache = hz;
  return hz;
}

/**
 * `net.ipv4.tcp_available_congestion_control`, as a list.
 *
 * @example Is bbr loaded?
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function bbrLoaded(): boolean {
 *   return availableCongestionControls().includes("bbr");
 * }
 * ```
 */
export function availableCongestionControls(): string[] {
  return Deno.readTextFileSync("/proc/sys/net/ipv4/tcp_available_congestion_control").trim()
    .split(/\s+/);
}

/**
 * `net.core.{w,r}mem_max`: the kernel caps SO_SNDBUF / SO_RCVBUF there.
 *
 * @example Will a 4 MiB send buffer be capped?
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function sendBufferCapped(bytes = 4_194_304): boolean {
 *   return bytes > socketBufferCaps().wmemMax;
 * }
 * ```
 */
export function socketBufferCaps(): { wmemMax: number; rmemMax: number } {
  const read = (n: string) => Number(Deno.readTextFileSync(`/proc/sys/net/core/${n}`).trim());
  return { wmemMax: read("wmem_max"), rmemMax: read("rmem_max") };
}
