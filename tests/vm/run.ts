/**
 * The VM test tier (`deno task test:vm`): boots each kernel of the matrix once under qemu and
 * runs that kernel's guest test files inside with Deno, then prints one line per kernel and
 * the plain `N passed, N failed` line. A boot failure or a timeout is a failure, never a pass.
 *
 * Usage: `deno run -A tests/vm/run.ts [--suite trixie] [--timeout SECONDS] [--quiet] [FILE...]`
 * (FILEs narrow the guest test files; each kernel still runs only the files meant for it).
 *
 * @module
 */
import {
  DEFAULT_MODULES,
  ensureKernel,
  type KernelArtifacts,
  type Suite,
  SUITES,
} from "./kernel_cache.ts";
import { buildInitramfs, type GuestCommand } from "./initramfs.ts";
import { bootVm } from "./qemu.ts";
import { type KernelOutcome, parseDenoSummary, runsOn, summaryLines } from "./summary.ts";

/** The project root: the guest sees the host's root, so this path is the same inside. */
export const PROJECT_ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
/** Where guest test files live. */
export const GUEST_DIR = "tests/vm/guest";
/**
 * Default limit for one boot, including the tests: a hang guard, not a target.
 * Under TCG a loaded 2-core machine ran the 6.12 suite past 10 minutes (a
 * pristine-root check beside four other test runs), and past 20 once the
 * policy agent's guest test joined it while host kernel tests ran beside it
 * (2026-11-27: killed at 1,227 s in tcp_tuning_stock, every test before it
 * green), so the guard is 30.
 */
export const DEFAULT_TIMEOUT_MS = 30 * 60_000;

/** Options for {@linkcode runInVm}. */
export interface VmRunOptions {
  suite: Suite;
  /** Test files (relative to the project root) to run with `deno test -A` in the guest. */
  testFiles?: string[];
  /** Instead of `deno test`, run this command in the guest (e.g. a benchmark). */
  command?: string[];
  /** Extra `deno test` arguments (e.g. `["--filter", "rescope"]`). */
  denoArgs?: string[];
  /** Extra environment for the guest command. */
  env?: Record<string, string>;
  /** Limit for the whole boot (default {@linkcode DEFAULT_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** Kernel modules to load (default: the kernel cache's default set). */
  modules?: string[];
  /** Receives each console line as it arrives. */
  onLine?: (line: string) => void;
}

/** What one boot brought back. */
export interface VmRunResult {
  suite: Suite;
  /** Kernel series, e.g. `6.12`. */
  series: string;
  /** The guest kernel's `uname -r` (empty when no kernel could be fetched). */
  release: string;
  /** The guest command's exit status; -1 when the guest never reported one. */
  exitCode: number;
  passed: number;
  failed: number;
  ignored: number;
  /** Set when the run failed beyond failing tests: boot failure, timeout, no tests... */
  failure?: string;
  timedOut: boolean;
  /** The whole console log. */
  output: string;
  durationMs: number;
}

/**
 * Boots `suite`'s kernel once and runs the test files (or `command`) inside. Never resolves
 * a failed boot as a pass: check `failure` and `failed`.
 *
 * @example Run the smoke test on Debian trixie
 * ```ts
 * const r = await runInVm({ suite: "trixie", testFiles: ["tests/vm/guest/smoke_test.ts"] });
 * console.log(r.exitCode, r.passed, r.failed, r.failure ?? "ok");
 * ```
 */
export async function runInVm(opts: VmRunOptions): Promise<VmRunResult> {
  const started = performance.now();
  const base = {
    suite: opts.suite,
    series: SUITES[opts.suite],
    release: "",
    exitCode: -1,
    ...{ passed: 0, failed: 0, ignored: 0, timedOut: false, output: "" },
  };
  const failed = (failure: string) => ({
    ...base,
    failure,
    durationMs: performance.now() - started,
  });
  let kernel: KernelArtifacts;
  try {
    kernel = await ensureKernel({ suite: opts.suite, modules: opts.modules });
  } catch (e) {
    return failed(`could not prepare the ${opts.suite} kernel: ${(e as Error).message}`);
  }
  const files = opts.testFiles ?? [];
  if (!opts.command && files.length === 0) return failed("no test files and no command given");
  // The guest skips type checking (slow under TCG); check, and cache deps, on the host instead.
  const checkError = opts.command ? undefined : await hostCheck(files);
  if (checkError) return { ...failed(`deno check failed on the host`), output: checkError };
  const boot = await bootWith(kernel, guestCommand(opts, kernel, files), opts);
  return {
    ...base,
    ...interpret(boot, !opts.command, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    release: kernel.release,
    durationMs: performance.now() - started,
  };
}

/** Where the guest writes one entry module per test file (only in the guest's overlay). */
export const GUEST_ENTRY_DIR = "tests/vm/.guest_run";

/**
 * `deno test` (or the caller's command) with the environment guest tests rely on.
 * deno.json's `test.exclude` keeps the guest files out of the host's `deno test`, and deno
 * honours it even for files named on the command line; so the guest runs small entry modules,
 * written outside the excluded paths, that import the real files.
 */
function guestCommand(opts: VmRunOptions, kernel: KernelArtifacts, files: string[]): GuestCommand {
  const entries: Record<string, string> = {};
  for (const file of files) {
    const abs = file.startsWith("/") ? file : `${PROJECT_ROOT}/${file}`;
    const name = abs.slice(PROJECT_ROOT.length + 1).replaceAll("/", "__");
    entries[`${PROJECT_ROOT}/${GUEST_ENTRY_DIR}/${name}`] = `import "file://${abs}";\n`;
  }
  const deno = Deno.execPath();
  const testArgs = [deno, "test", "-A", "--no-check", ...(opts.denoArgs ?? [])];
  return {
    argv: opts.command ?? [...testArgs, ...Object.keys(entries)],
    cwd: PROJECT_ROOT,
    env: {
      SOCKFORM_VM: "1",
      // Each `deno run main.ts` costs ~14 s under TCG: guest tests run the CLI in-process
      // (tests/helpers/in_process_cli.ts) unless a call brings its own env or stdin.
      SOCKFORM_TEST_CLI_IN_PROCESS: "1",
      SOCKFORM_VM_SUITE: opts.suite,
      SOCKFORM_VM_KERNEL: kernel.series,
      SOCKFORM_VM_KERNEL_RELEASE: kernel.release,
      ...opts.env,
    },
    files: opts.command ? undefined : entries,
  };
}

async function hostCheck(files: string[]): Promise<string | undefined> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["check", ...files],
    cwd: PROJECT_ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  if (out.success) return undefined;
  return new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
}

async function bootWith(kernel: KernelArtifacts, command: GuestCommand, opts: VmRunOptions) {
  const nonce = crypto.randomUUID().replaceAll("-", "");
  const initrd = await Deno.makeTempFile({ prefix: "sf-vm-initrd-", suffix: ".gz" });
  try {
    await buildInitramfs({ kernel, command, nonce, out: initrd });
    return await bootVm({
      vmlinuz: kernel.vmlinuz,
      initrd,
      nonce,
      timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      onLine: opts.onLine,
    });
  } finally {
    await Deno.remove(initrd).catch(() => {});
  }
}

/** Turns how a boot ended into counts and, when it is a failure of its own, the reason. */
function interpret(
  boot: Awaited<ReturnType<typeof bootVm>>,
  isDenoTest: boolean,
  timeoutMs: number,
) {
  const counts = parseDenoSummary(boot.output) ?? { passed: 0, failed: 0, ignored: 0 };
  const exitCode = boot.exitCode ?? -1;
  const result = { ...counts, exitCode, timedOut: boot.timedOut, output: boot.output };
  const tail = boot.output.trimEnd().split("\n").slice(-8).join(" | ");
  let failure: string | undefined;
  if (boot.timedOut) failure = `timed out after ${timeoutMs / 1000} s (boot or tests hung)`;
  else if (boot.bootFailure) failure = `boot failed in the guest: ${boot.bootFailure}`;
  else if (boot.exitCode === undefined) {
    failure = `VM stopped without reporting an exit status (qemu exit ${boot.qemuCode}): ${tail}`;
  } else if (isDenoTest && !parseDenoSummary(boot.output)) {
    failure = `deno test printed no summary (guest exit ${exitCode})`;
  } else if (exitCode !== 0 && counts.failed === 0) {
    failure = `guest command exited with ${exitCode}`;
  } else if (isDenoTest && counts.passed === 0 && counts.failed === 0) {
    failure = "no test ran";
  }
  return failure ? { ...result, failure } : result;
}

/** One kernel of the matrix. */
export interface MatrixEntry {
  suite: Suite;
  /** Extra guest environment for this kernel. */
  env?: Record<string, string>;
  /** Modules to load instead of the default set (a kernel that lacks one of them). */
  modules?: string[];
}

/**
 * The kernel matrix: one boot per entry. `mptcp-next` boots the local test kernel named by
 * `$SOCKFORM_MPTCP_NEXT_KERNEL` (tests/vm/local_kernel.ts); when that file is missing the
 * suite fails, naming the path.
 */
export const MATRIX: readonly MatrixEntry[] = [
  { suite: "trixie" },
  { suite: "bookworm" },
  // Debian's 5.10 is built without MPTCP (no mptcp_diag): the refusals of an old kernel.
  { suite: "bullseye", modules: DEFAULT_MODULES.filter((m) => m !== "mptcp_diag") },
  { suite: "mptcp-next" },
];

/**
 * The guest test files (relative to the project root) meant for a kernel series: every
 * `tests/vm/guest/*_test.ts` whose `// @vm-kernels` line names the series or that has none.
 *
 * @example
 * ```ts
 * const files = await guestFilesFor("6.1"); // ["tests/vm/guest/smoke_test.ts", ...]
 * ```
 */
export async function guestFilesFor(series: string, only?: string[]): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(`${PROJECT_ROOT}/${GUEST_DIR}`)) {
    if (!entry.isFile || !entry.name.endsWith("_test.ts")) continue;
    const rel = `${GUEST_DIR}/${entry.name}`;
    if (only && !only.some((o) => rel.endsWith(o.replace(/^\.\//, "")))) continue;
    if (runsOn(await Deno.readTextFile(`${PROJECT_ROOT}/${rel}`), series)) files.push(rel);
  }
  return files.sort();
}

interface CliArgs {
  suites: Suite[];
  timeoutMs: number;
  quiet: boolean;
  only?: string[];
}

function parseArgs(args: string[]): CliArgs {
  const out: CliArgs = { suites: [], timeoutMs: DEFAULT_TIMEOUT_MS, quiet: false };
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--quiet") out.quiet = true;
    else if (a === "--timeout") out.timeoutMs = Number(args[++i]) * 1000;
    else if (a === "--suite") {
      const s = args[++i];
      if (!(s in SUITES)) throw new Error(`unknown suite ${s} (known: ${Object.keys(SUITES)})`);
      out.suites.push(s as Suite);
    } else files.push(a);
  }
  if (!(out.timeoutMs > 0)) throw new Error("--timeout needs a positive number of seconds");
  return files.length ? { ...out, only: files } : out;
}

async function main(args: string[]): Promise<number> {
  const cli = parseArgs(args);
  const entries = MATRIX.filter((e) => cli.suites.length === 0 || cli.suites.includes(e.suite));
  const outcomes: KernelOutcome[] = [];
  for (const entry of entries) {
    const label = `${entry.suite} ${SUITES[entry.suite]}`;
    const testFiles = await guestFilesFor(SUITES[entry.suite], cli.only);
    if (testFiles.length === 0) {
      console.log(`vm ${label}: skipped, no guest test file is meant for this kernel`);
      continue;
    }
    console.log(`vm ${label}: booting for ${testFiles.join(" ")}`);
    const r = await runInVm({
      suite: entry.suite,
      testFiles,
      env: entry.env,
      modules: entry.modules,
      timeoutMs: cli.timeoutMs,
      onLine: cli.quiet ? undefined : (line) => console.log(`[${entry.suite}] ${line}`),
    });
    if (cli.quiet && (r.failure || r.failed)) console.log(r.output);
    outcomes.push({ ...r, label: `${label} (${r.release || "no kernel"})` });
  }
  for (const line of summaryLines(outcomes)) console.log(line);
  const bad = outcomes.some((o) => o.failure || o.failed > 0) || outcomes.length === 0;
  return bad ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
