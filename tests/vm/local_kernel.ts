/**
 * Kernels the VM tier boots from a local file instead of a Debian package: today the
 * `mptcp-next` test kernel (Linux 7.3 plus the MPTCP BPF scheduler struct_ops, built with
 * everything the harness needs built in, so it boots with no modules).
 *
 * Its location is `$SOCKFORM_MPTCP_NEXT_KERNEL`, by default
 * {@linkcode DEFAULT_MPTCP_NEXT_KERNEL}. A missing file is an error naming the path: the
 * suite then fails, it is never skipped.
 *
 * @module
 */
import type { KernelArtifacts, Suite } from "./kernel_cache.ts";

/** Environment variable that overrides where the mptcp-next kernel image is. */
export const MPTCP_NEXT_KERNEL_ENV = "SOCKFORM_MPTCP_NEXT_KERNEL";
/** Where the mptcp-next kernel image is unless {@linkcode MPTCP_NEXT_KERNEL_ENV} says otherwise. */
export const DEFAULT_MPTCP_NEXT_KERNEL = "/work/shared/kernels/mptcp-next/bzImage";

/**
 * The mptcp-next kernel image path: `$SOCKFORM_MPTCP_NEXT_KERNEL` or the default.
 *
 * @example
 * ```ts
 * console.log(mptcpNextKernelPath()); // "/work/shared/kernels/mptcp-next/bzImage"
 * ```
 */
export function mptcpNextKernelPath(): string {
  return Deno.env.get(MPTCP_NEXT_KERNEL_ENV) || DEFAULT_MPTCP_NEXT_KERNEL;
}

/**
 * The release (`uname -r`) a bzImage announces: the first word of the version string its
 * x86 boot header points at (`kernel_version` at 0x20e, relative to 0x200).
 *
 * @example
 * ```ts
 * const release = bzImageRelease(Deno.readFileSync("bzImage")); // "7.3.4-mptcp-bpf"
 * ```
 */
export function bzImageRelease(image: Uint8Array): string {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const magic = new TextDecoder().decode(image.subarray(0x202, 0x206));
  if (image.length < 0x210 || magic !== "HdrS") throw new Error("not an x86 bzImage (no HdrS)");
  const at = view.getUint16(0x20e, true) + 0x200;
  const end = image.indexOf(0, at);
  const text = new TextDecoder().decode(image.subarray(at, end < 0 ? at + 256 : end));
  const release = text.split(" ")[0];
  if (!release) throw new Error("bzImage has no kernel version string");
  return release;
}

/**
 * The artifacts of a kernel booted from a local bzImage with no modules. Throws, naming
 * the path and how to point elsewhere, when the file is not there.
 *
 * @example
 * ```ts
 * const k = await localKernel("mptcp-next", "7.3", mptcpNextKernelPath());
 * console.log(k.release, k.modules.length); // "7.3.4-mptcp-bpf" 0
 * ```
 */
export async function localKernel(
  suite: Suite,
  series: string,
  path: string,
): Promise<KernelArtifacts> {
  let image: Uint8Array;
  try {
    image = await Deno.readFile(path);
  } catch (e) {
    throw new Error(
      `the ${suite} kernel image ${path} is not readable (${(e as Error).message}); ` +
        `build it (see its README) or set ${MPTCP_NEXT_KERNEL_ENV}`,
    );
  }
  return {
    suite,
    series,
    release: bzImageRelease(image),
    packageName: path,
    vmlinuz: path,
    modules: [],
  };
}
