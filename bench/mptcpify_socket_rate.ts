/**
 * MptcpifyHook's cost on socket creation: `socket()` + `close()` per second
 * with the hook attached, for an out-of-scope and an in-scope task, against
 * no hook, side by side in one boot of the 6.12 VM (the host kernel refuses
 * fmod_ret programs). Rounds interleave the cases: detach, measure, attach,
 * measure. Prints medians and ratios; the target is ≥ 0.9.
 *
 * The hook's maps hold a realistic scope (a command, uids and a cgroup), so
 * every socket pays for the uid and comm lookups and the cgroup ancestor walk.
 * An in-scope socket becomes MPTCP, which costs more to create in itself, so
 * its fair baseline is an explicit `socket(..., IPPROTO_MPTCP)` without the hook.
 *
 *     deno run -A bench/mptcpify_socket_rate.ts [--rounds N] [--ops N]   # from the host
 *
 * @module
 */
import { MptcpifyHook } from "../resources/mptcpify_hook.ts";
import { Stack } from "../engine/stack.ts";
import { applyStack, destroyStack } from "../engine/session.ts";
import { kernelStore } from "../providers/state/kernel_store.ts";
import { check, cstr, libc } from "../providers/libc/ffi.ts";
import { privateBpffsMount } from "../providers/state/bpffs.ts";
import { vmKernel } from "../tests/vm/guest/vm_env.ts";
import type { Benchmark } from "./harness.ts";

const AF_INET = 2;
const SOCK_STREAM = 1;
const IPPROTO_MPTCP = 262;
const SYS_PRCTL = 157n;
const PR_SET_NAME = 15n;
const IN_SCOPE = "sf-bench-in";
const OUT_OF_SCOPE = "sf-bench-out";

/** Registered in `bench/run.ts`: boots the VM and prints the guest's report. */
export const benchmark: Benchmark = {
  name: "mptcpify_socket_rate",
  summary: "socket()+close() rate under MptcpifyHook (in/out of scope) vs no hook, in the 6.12 VM",
  run: async () => {
    if ((await bootAndMeasure([])) !== 0) throw new Error("the VM run failed");
  },
};

/** Sets this thread's task name (the hook matches on it). */
function setComm(name: string): void {
  const buf = cstr(name);
  const p = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
  check("prctl(PR_SET_NAME)", libc().syscall(SYS_PRCTL, PR_SET_NAME, p, 0n));
}

/** socket()+close() per second over `ops` iterations, as task `comm`. */
function rate(comm: string, protocol: number, ops: number): number {
  setComm(comm);
  const start = performance.now();
  for (let i = 0; i < ops; i++) {
    const fd = libc().socket(AF_INET, SOCK_STREAM, protocol);
    if (fd < 0) check("socket", fd);
    libc().close(fd);
  }
  return ops / ((performance.now() - start) / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

type Case = "tcp, no hook" | "mptcp, no hook" | "out of scope, hook" | "in scope, hook";

/** Each case's task name and socket() protocol argument. */
const CASES: Record<Case, [string, number]> = {
  "tcp, no hook": [OUT_OF_SCOPE, 0],
  "mptcp, no hook": [OUT_OF_SCOPE, IPPROTO_MPTCP],
  "out of scope, hook": [OUT_OF_SCOPE, 0],
  "in scope, hook": [IN_SCOPE, 0],
};
const SETTLE_MS = 500;

/** A realistic scope: every socket pays for the uid and comm lookups and the cgroup walk. */
function benchStack(cgroup: string): Stack {
  return new Stack("bench", [
    new MptcpifyHook("bench", {
      scope: { commands: [IN_SCOPE, "iperf3", "curl"], uids: [1000, 1001], cgroups: [cgroup] },
      exclude: { commands: ["sshd"] },
    }),
  ]);
}

async function measureInGuest(rounds: number, ops: number): Promise<void> {
  const fs = privateBpffsMount();
  const cgroup = `/sys/fs/cgroup/unified/sf-bench-${crypto.randomUUID().slice(0, 6)}`;
  Deno.mkdirSync(cgroup);
  const stack = benchStack(cgroup);
  const samples: Record<Case, number[]> = {
    "tcp, no hook": [],
    "mptcp, no hook": [],
    "out of scope, hook": [],
    "in scope, hook": [],
  };
  const measure = async (c: Case) => {
    // Closed sockets are freed partly from deferred kernel work: let it drain first.
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const [comm, protocol] = CASES[c];
    samples[c].push(rate(comm, protocol, ops));
  };
  try {
    rate(OUT_OF_SCOPE, 0, ops); // warm-up: JIT and FFI paths
    for (let r = 0; r < rounds; r++) {
      // Alternate which half goes first, and the order inside each half.
      const phases = [false, true];
      if (r % 2) phases.reverse();
      for (const hooked of phases) {
        if (hooked) await applyStack(stack, kernelStore(fs.root));
        else await destroyStack(stack, kernelStore(fs.root));
        const cases: Case[] = hooked
          ? ["out of scope, hook", "in scope, hook"]
          : ["tcp, no hook", "mptcp, no hook"];
        if ((r >> 1) % 2) cases.reverse();
        for (const c of cases) await measure(c);
      }
    }
  } finally {
    await destroyStack(stack, kernelStore(fs.root));
    fs.cleanup();
    Deno.removeSync(cgroup);
  }
  report(samples, rounds, ops);
}

function report(samples: Record<Case, number[]>, rounds: number, ops: number): void {
  const m = Object.fromEntries(
    Object.entries(samples).map(([k, v]) => [k, median(v)]),
  ) as Record<Case, number>;
  console.log(`mptcpify_socket_rate on ${Deno.osRelease()}: ${rounds} rounds × ${ops} ops`);
  for (const [name, values] of Object.entries(samples)) {
    const med = Math.round(median(values)).toString().padStart(9);
    const spread = `${Math.round(Math.min(...values))}–${Math.round(Math.max(...values))}`;
    console.log(`  ${name.padEnd(20)} ${med} ops/s median (range ${spread})`);
  }
  const ratios: [string, number][] = [
    ["out of scope, hook / tcp, no hook", m["out of scope, hook"] / m["tcp, no hook"]],
    ["in scope, hook / mptcp, no hook", m["in scope, hook"] / m["mptcp, no hook"]],
    ["in scope, hook / tcp, no hook", m["in scope, hook"] / m["tcp, no hook"]],
  ];
  for (const [name, r] of ratios) {
    console.log(
      `  ratio ${name.padEnd(34)} ${r.toFixed(3)} ${r >= 0.9 ? "(≥ 0.9 ok)" : "(< 0.9)"}`,
    );
  }
  console.log("  (qemu TCG: absolute rates are emulated; compare the ratios, and mind the ranges)");
}

/** Boots the 6.12 VM and runs this file inside it; returns the guest's exit status. */
async function bootAndMeasure(args: string[]): Promise<number> {
  const { runInVm } = await import("../tests/vm/run.ts");
  const r = await runInVm({
    suite: "trixie",
    command: [Deno.execPath(), "run", "-A", "bench/mptcpify_socket_rate.ts", ...args],
    timeoutMs: 15 * 60_000,
  });
  const lines = r.output.split("\n");
  const from = lines.findIndex((l) => l.startsWith("mptcpify_socket_rate on "));
  if (from >= 0) console.log(lines.slice(from).filter((l) => /^ {2}|^mptcpify/.test(l)).join("\n"));
  if (r.failure || r.exitCode !== 0) {
    console.error(
      `VM run failed: ${r.failure ?? `exit ${r.exitCode}`}\n${lines.slice(-20).join("\n")}`,
    );
    return 1;
  }
  console.log(`(VM boot and run: ${(r.durationMs / 1000).toFixed(1)} s)`);
  return 0;
}

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

if (import.meta.main) {
  const rounds = option(Deno.args, "--rounds", 7);
  const ops = option(Deno.args, "--ops", 5000);
  if (vmKernel()) await measureInGuest(rounds, ops);
  else Deno.exit(await bootAndMeasure(Deno.args));
}
