/**
 * The one place that knows every external program sockform, its demo, its
 * tests, its benchmarks and its VM harness start, and the Debian package that
 * provides each. Every spawn goes through {@linkcode programCommand} (or
 * {@linkcode requireProgram} first), so a missing tool fails at once with the
 * package to install instead of as a timeout somewhere later.
 *
 * `scripts/setup.sh` installs the packages listed in
 * `scripts/debian-packages.txt`; `programs_test.ts` checks that every program
 * started anywhere in the project is registered here and that its package is
 * in that list (with `dpkg -S`).
 *
 * @module
 */
import { UserError } from "../../engine/errors.ts";

/** Program name → the Debian package that `scripts/setup.sh` installs for it. */
export const PROGRAMS = {
  ip: "iproute2",
  ss: "iproute2",
  tc: "iproute2",
  nsenter: "util-linux",
  setpriv: "util-linux",
  mount: "mount",
  umount: "mount",
  sysctl: "procps",
  sh: "dash",
  bash: "bash",
  iperf3: "iperf3",
  mptcpize: "mptcpize",
  bpftool: "bpftool",
  "qemu-system-x86_64": "qemu-system-x86",
  busybox: "busybox-static",
  python3: "python3",
  curl: "curl",
  "clang-19": "clang-19",
  cpio: "cpio",
  xz: "xz-utils",
  "dpkg-deb": "dpkg",
  "apt-get": "apt",
  "apt-cache": "apt",
  dpkg: "dpkg",
  "dpkg-query": "dpkg",
  git: "git",
  debootstrap: "debootstrap",
  modinfo: "kmod",
  prometheus: "prometheus",
  promtool: "prometheus",
  "systemd-analyze": "systemd",
} as const satisfies Record<string, string>;

/** A program sockform may start. */
export type Program = keyof typeof PROGRAMS;

/**
 * A program that is not installed: names it and the Debian package that
 * provides it. A user error, so the CLI prints it as one line.
 */
export class MissingProgramError extends UserError {
  override name = "MissingProgramError";
  constructor(readonly program: string, readonly debianPackage: string) {
    super(`${program} not found (Debian package ${debianPackage}; run deno task setup)`);
  }
}

// Root's PATH in a chroot or a CI runner may lack the sbin directories where
// iproute2 and bpftool live; Deno.Command resolves against the same list.
export const SYSTEM_DIRS: readonly string[] = [
  "/usr/local/sbin",
  "/usr/local/bin",
  "/usr/sbin",
  "/usr/bin",
  "/sbin",
  "/bin",
];
const found = new Map<string, string>();

/** Whether `name` is a registered program. */
export function isProgram(name: string): name is Program {
  return Object.hasOwn(PROGRAMS, name);
}

/**
 * The absolute path of `program`, searched on PATH and the system directories.
 * Throws {@linkcode MissingProgramError} naming its Debian package when absent.
 *
 * @example Fail early, before a demo act that needs mptcpize
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function beforeAct(): void {
 *   requireProgram("mptcpize"); // throws "mptcpize not found (Debian package mptcpize; …)"
 * }
 * ```
 */
export function requireProgram(program: Program, dirs: readonly string[] = searchDirs()): string {
  const cached = found.get(program);
  if (cached) return cached;
  const path = dirs.map((dir) => `${dir}/${program}`).find(isExecutableFile);
  if (!path) throw new MissingProgramError(program, PROGRAMS[program]);
  found.set(program, path);
  return path;
}

/** PATH's directories, then the system ones. */
export function searchDirs(): string[] {
  return (Deno.env.get("PATH") ?? "").split(":").filter(Boolean).concat(SYSTEM_DIRS);
}

function isExecutableFile(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * Checks every registered program named in `argv` (so the inner program of
 * `ip netns exec NS mptcpize run iperf3 …` is checked too). `argv[0]` must be
 * a registered program or this Deno executable.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function beforeServer(): void {
 *   requireArgv(["ip", "netns", "exec", "lab", "iperf3", "-s"]);
 * }
 * ```
 */
export function requireArgv(argv: readonly string[]): void {
  const [first] = argv;
  if (first !== Deno.execPath() && !isProgram(first)) {
    throw new Error(`${first} is not registered in providers/system/programs.ts (a sockform bug)`);
  }
  for (const word of argv) if (isProgram(word)) requireProgram(word);
}

/**
 * A `Deno.Command` for `argv`, after {@linkcode requireArgv}: the one way the
 * project starts an external program.
 *
 * @example Run ip and read its output
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function links(): Promise<string> {
 *   const out = await programCommand(["ip", "-j", "link"], { stdout: "piped" }).output();
 *   return new TextDecoder().decode(out.stdout);
 * }
 * ```
 */
export function programCommand(
  argv: readonly string[],
  options: Omit<Deno.CommandOptions, "args"> = {},
): Deno.Command {
  requireArgv(argv);
  const [program, ...args] = argv;
  return new Deno.Command(program, { ...options, args });
}
