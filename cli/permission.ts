/**
 * Permission errors as user errors: EPERM and EACCES from the kernel or the
 * file system are the caller's lack of privilege (or a security policy), not
 * a sockform bug, so the CLI prints one line naming the call and what it needs.
 *
 * @module
 */
import { StepError } from "../engine/errors.ts";
import { errnoName, KernelCallError } from "../providers/system/errno.ts";
import { isPermissionErrno, mayUseBpf, missingCapabilities } from "../providers/system/features.ts";

/** What an unprivileged caller must add. */
export const NEEDS_PRIVILEGE = "sockform needs root (or CAP_BPF and CAP_NET_ADMIN)";

/** `Permission denied (os error 13): mkdir '/x'` → `mkdir '/x': EACCES (Permission denied)`. */
function fsDenied(e: Deno.errors.PermissionDenied): string {
  const m = e.message.split("\n")[0].match(/^(.*?) \(os error (\d+)\)(?:: (.*))?$/);
  if (!m) return e.message.split("\n")[0];
  const call = m[3] ?? "a file system call";
  return `${call}: ${errnoName(Number(m[2]))} (${m[1]})`;
}

function deniedCause(e: unknown): string | null {
  if (e instanceof Deno.errors.PermissionDenied) return fsDenied(e);
  if (e instanceof KernelCallError && isPermissionErrno(e.errno)) return e.message.split("\n")[0];
  // A program sockform ran (nsenter, ip) that was refused reports it in its own words.
  const text = e instanceof Error ? e.message.split("\n")[0] : "";
  return /Operation not permitted/.test(text) ? text : null;
}

/**
 * One line for a permission error (also inside a failed step), or null when
 * `e` is not one.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { KernelCallError } from "../providers/system/errno.ts";
 *
 * function mountRefused(): string | null {
 *   return permissionLine(new KernelCallError("mount(bpf)", 1, "Operation not permitted"));
 *   // "mount(bpf): EPERM (Operation not permitted); sockform needs root (or CAP_BPF and CAP_NET_ADMIN)"
 * }
 * ```
 */
export function permissionLine(e: unknown): string | null {
  const inner = e instanceof StepError ? e.original : e;
  const cause = deniedCause(inner);
  if (cause === null) return null;
  const first = e instanceof StepError ? e.message.split("\n")[0] : cause;
  if (!mayUseBpf()) return `${first}; ${NEEDS_PRIVILEGE}`;
  const missing = missingCapabilities();
  if (missing.length) {
    return `${first}; this process lacks ${
      missing.join(", ")
    } (see deploy/ for the set sockform uses)`;
  }
  if (inner instanceof Deno.errors.PermissionDenied) {
    return `${first}; check the owner and mode of that path`;
  }
  return `${first}; refused although this process is privileged ` +
    "(a security policy such as kernel lockdown or an LSM?)";
}
