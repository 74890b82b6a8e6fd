/**
 * The kernel's own measure of a BPF program's cost: with run-time stats on
 * (`BPF_ENABLE_STATS`), each program accumulates `run_cnt` and `run_time_ns`.
 * Stats stay on only while the returned fd is open, so a crash cannot leave
 * them on. They add two clock reads per run: measure with them in a separate
 * round, never in the rounds being compared.
 *
 * @module
 */
import { check, libc } from "../providers/libc/ffi.ts";
import { programCommand } from "../providers/system/programs.ts";
import { BPF_ENABLE_STATS, BPF_STATS_RUN_TIME } from "../providers/libbpf/uapi.ts";

const SYS_BPF = 321n; // x86_64

/** A program's run counters. */
export interface RunStats {
  runCount: number;
  runTimeNs: number;
}

/**
 * Turns run-time stats on host-wide until the returned function is called.
 *
 * @example
 * ```ts
 * const off = enableRunStats();
 * try { await workload(); } finally { off(); }
 * ```
 */
export function enableRunStats(): () => void {
  const attr = new Uint32Array([BPF_STATS_RUN_TIME, 0]);
  const ptr = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(attr)));
  const fd = check(
    "bpf(BPF_ENABLE_STATS)",
    libc().syscall(SYS_BPF, BigInt(BPF_ENABLE_STATS), ptr, BigInt(attr.byteLength)),
  );
  return () => libc().close(fd);
}

/**
 * Reads a pinned program's counters through `bpftool prog show pinned … --json`.
 *
 * @example
 * ```ts
 * const { runCount, runTimeNs } = await runStats("/sys/fs/bpf/x/prog");
 * ```
 */
export async function runStats(pinnedProg: string): Promise<RunStats> {
  const out = await programCommand(["bpftool", "prog", "show", "pinned", pinnedProg, "--json"], {
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`bpftool prog show: ${new TextDecoder().decode(out.stderr)}`);
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  return { runCount: info.run_cnt ?? 0, runTimeNs: info.run_time_ns ?? 0 };
}
