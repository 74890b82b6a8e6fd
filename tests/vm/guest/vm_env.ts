/**
 * What a guest test file knows about the VM it runs in, from the environment the VM harness
 * (tests/vm/run.ts) sets: `SOCKFORM_VM_SUITE`, `SOCKFORM_VM_KERNEL` (series, e.g. `6.12`) and
 * `SOCKFORM_VM_KERNEL_RELEASE` (`uname -r`).
 *
 * @module
 */

/** The VM's kernel as the harness announced it. */
export interface VmKernel {
  /** Debian suite, e.g. `trixie`. */
  suite: string;
  /** Kernel series, e.g. `6.12`. */
  series: string;
  /** Full release, e.g. `6.12.117+deb13-amd64`. */
  release: string;
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    // Without env permission this cannot be the harness's guest, which runs with -A.
    return undefined;
  }
}

/**
 * The VM kernel when running inside the harness's guest, `undefined` anywhere else.
 *
 * @example Register guest tests only inside the VM
 * ```ts
 * const vm = vmKernel();
 * if (vm?.series === "6.12") Deno.test("hook attaches", () => {});
 * ```
 */
export function vmKernel(): VmKernel | undefined {
  const series = readEnv("SOCKFORM_VM_KERNEL");
  const release = readEnv("SOCKFORM_VM_KERNEL_RELEASE");
  if (readEnv("SOCKFORM_VM") !== "1" || !series || !release) return undefined;
  return { suite: readEnv("SOCKFORM_VM_SUITE") ?? "", series, release };
}

/**
 * Registers one ignored test whose name says why a guest file's tests did not run here,
 * so `deno test` on the host reports a skip with its reason instead of a silent nothing.
 *
 * @example
 * ```ts
 * if (!vmKernel()) skipOutsideVm("MptcpifyHook guest tests");
 * ```
 */
export function skipOutsideVm(what: string): void {
  Deno.test({
    name: `${what} (skipped: guest-only, run them with \`deno task test:vm\`)`,
    ignore: true,
    fn() {},
  });
}
