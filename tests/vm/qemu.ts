/**
 * Boots one VM with qemu (TCG), streams its serial console line by line, and ends the boot
 * when the guest reports its exit status, the guest gives up, or the timeout passes.
 *
 * @module
 */
import { BOOT_FAILED_MARKER, EXIT_MARKER, ROOT_TAG } from "./initramfs.ts";
import { programCommand } from "../../providers/system/programs.ts";

/** Options for {@linkcode bootVm}. */
export interface BootOptions {
  vmlinuz: string;
  initrd: string;
  /** The token the guest's exit marker must carry. */
  nonce: string;
  /** Hard limit for the whole boot; the VM is killed when it passes. */
  timeoutMs: number;
  /** Host directory exported read-only as the guest's root (default `/`). */
  rootPath?: string;
  /** Receives every console line as it arrives (already cleaned of escape codes). */
  onLine?: (line: string) => void;
}

/** How a boot ended. */
export interface BootResult {
  /** The guest command's exit status, when the guest reported it. */
  exitCode?: number;
  /** Set when the guest said it could not set itself up. */
  bootFailure?: string;
  timedOut: boolean;
  /** The whole console, cleaned, one `\n` per line. */
  output: string;
  /** qemu's own exit code (non-zero when it failed to start). */
  qemuCode: number;
  durationMs: number;
}

/**
 * The qemu command line of one boot. TCG, because KVM guests fault on these hosts.
 *
 * @example
 * ```ts
 * const args = qemuArgs({ vmlinuz: "/k/vmlinuz", initrd: "/k/initrd.gz", nonce: "n", timeoutMs: 1 });
 * // ["-accel", "tcg", ...]
 * ```
 */
export function qemuArgs(opts: BootOptions): string[] {
  const root = opts.rootPath ?? "/";
  return [
    ...["-accel", "tcg", "-cpu", "max", "-m", "2G", "-smp", "2"],
    ...["-nographic", "-no-reboot", "-nic", "none"],
    ...["-kernel", opts.vmlinuz, "-initrd", opts.initrd],
    // panic=-1 plus -no-reboot turns a guest panic into a prompt qemu exit.
    ...["-append", "console=ttyS0 quiet loglevel=3 panic=-1 oops=panic"],
    "-fsdev",
    `local,id=root,path=${root},readonly=on,security_model=passthrough,multidevs=remap`,
    ...["-device", `virtio-9p-pci,fsdev=root,mount_tag=${ROOT_TAG}`],
  ];
}

/**
 * One console line as a terminal would show it: escape sequences (SeaBIOS clears the screen)
 * removed, and text a carriage return went back over replaced (deno test rewrites its
 * "name ..." lines in place on a terminal).
 *
 * @example
 * ```ts
 * cleanConsole("step ...\rstep ... ok\r"); // "step ... ok"
 * ```
 */
export function cleanConsole(line: string): string {
  // deno-lint-ignore no-control-regex
  const plain = line.replace(/\x1b(\[[0-9;?]*[A-Za-z]|c)/g, "").replace(/\r+$/, "");
  return plain.split("\r").filter((part) => part !== "").at(-1) ?? "";
}

/**
 * Boots a VM and returns how it ended. Never throws for guest problems: a missing marker,
 * a guest set-up failure or a timeout is described in the result.
 *
 * @example
 * ```ts
 * const r = await bootVm({ vmlinuz, initrd, nonce, timeoutMs: 300_000, onLine: console.log });
 * if (r.exitCode === undefined) console.error("the VM did not report an exit status");
 * ```
 */
export async function bootVm(opts: BootOptions): Promise<BootResult> {
  const started = performance.now();
  const child = programCommand(["qemu-system-x86_64", ...qemuArgs(opts)], {
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const result: BootResult = { timedOut: false, output: "", qemuCode: 0, durationMs: 0 };
  const stop = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // Already gone: nothing to stop.
    }
  };
  const timer = setTimeout(() => {
    result.timedOut = true;
    stop("SIGKILL");
  }, opts.timeoutMs);
  const lines: string[] = [];
  const watch = consoleWatcher(result, opts.nonce, () => stop("SIGTERM"));
  const onLine = (line: string) => {
    lines.push(line);
    opts.onLine?.(line);
    watch(line);
  };
  const [, stderr] = await Promise.all([
    readLines(child.stdout, onLine),
    new Response(child.stderr).text(),
    child.status,
  ]);
  clearTimeout(timer);
  const status = await child.status;
  // qemu notes the SIGTERM that ended a finished run; that is not worth a line.
  const ours = (l: string) => result.exitCode !== undefined && /terminating on signal 15/.test(l);
  for (const line of stderr.split("\n").filter((l) => l.trim() && !ours(l))) {
    lines.push(`qemu: ${cleanConsole(line)}`);
  }
  result.qemuCode = status.code;
  result.output = lines.join("\n") + "\n";
  result.durationMs = performance.now() - started;
  return result;
}

/** Reads the guest's markers off console lines into `result`; `finished` ends the boot. */
function consoleWatcher(result: BootResult, nonce: string, finished: () => void) {
  const exitLine = new RegExp(`^${EXIT_MARKER}(\\d+) run=${nonce}$`);
  return (line: string) => {
    const exit = line.match(exitLine);
    if (exit && result.exitCode === undefined) {
      result.exitCode = Number(exit[1]);
      // Everything before the marker has arrived; no need to wait for the guest's power-off.
      finished();
    }
    const at = line.indexOf(BOOT_FAILED_MARKER);
    if (at >= 0) result.bootFailure ??= line.slice(at + BOOT_FAILED_MARKER.length).trim();
  };
}

async function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    const parts = pending.split("\n");
    pending = parts.pop()!;
    for (const part of parts) onLine(cleanConsole(part));
  }
  if (pending) onLine(cleanConsole(pending));
}
