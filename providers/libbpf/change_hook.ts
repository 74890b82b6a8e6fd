/**
 * The hook libbpf calls right after each kernel change it makes: a pin, an
 * unpin, a link attach, a program swap. libbpf knows nothing of what listens:
 * the kernel state store (providers/state/kernel_store.ts) installs the
 * engine's fault counter here, so `SOCKFORM_FAULT=*-at-change:N` reaches every
 * such change while this layer imports nothing from the engine.
 *
 * @module
 */

/**
 * Told of one kernel change. `failable` is false right after a link attach,
 * whose handle the caller has not received yet; the hook may throw only where
 * it is true.
 */
export type KernelChangeHook = (description: string, failable: boolean) => void;

let hook: KernelChangeHook | null = null;

/**
 * Installs the hook (null removes it); the last one installed wins.
 *
 * @example Counting changes
 * ```ts
 * let changes = 0;
 * setKernelChangeHook(() => changes++);
 * ```
 */
export function setKernelChangeHook(next: KernelChangeHook | null): void {
  hook = next;
}

/**
 * Reports one kernel change to the installed hook, if any.
 *
 * @example After pinning
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function beforePin(path: string): void {
 *   kernelChanged(`pin ${path}`, true);
 * }
 * ```
 */
export function kernelChanged(description: string, failable: boolean): void {
  hook?.(description, failable);
}
