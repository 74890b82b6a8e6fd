/**
 * Pins and handles within one apply, for every BPF kind: pin with an undo,
 * replace a pin so a rollback restores the old object, and hold fds, links
 * and objects until the apply commits or has finished rolling back.
 *
 * @module
 */
import type { Transaction } from "../../engine/types.ts";
import { openPinQuiet, pinFd, unpin } from "../libbpf/pins.ts";
import { libc } from "../libc/ffi.ts";

/**
 * Closes held fds, links and objects once, at commit or at the end of a
 * rollback.
 *
 * @example Keeping an old link attached until commit
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Transaction } from "../../engine/types.ts";
 * import { openPinQuiet } from "../libbpf/pins.ts";
 *
 * function holdOldLink(tx: Transaction, dir: string): number | null {
 *   const held = new Held(tx, "web");
 *   return held.fd(openPinQuiet(`${dir}/link`, "link"));
 * }
 * ```
 */
export class Held {
  readonly #fds: number[] = [];
  readonly #closables: { close(): void }[] = [];
  constructor(tx: Transaction, what: string) {
    // Registered first, so a rollback runs it last: after every re-pin.
    tx.onRollback(`release handles of ${what}`, () => this.release());
    tx.onCommit(`release handles of ${what}`, () => this.release());
  }
  /** Holds an fd (null and negative values are not fds: passed through as null). */
  fd(fd: number | null): number | null {
    if (fd === null || fd < 0) return null;
    this.#fds.push(fd);
    return fd;
  }
  /** Holds a link, a loaded object or anything else with `close()`. */
  hold<T extends { close(): void }>(closable: T): T {
    this.#closables.push(closable);
    return closable;
  }
  release(): void {
    for (const c of this.#closables.splice(0)) c.close();
    for (const fd of this.#fds.splice(0)) libc().close(fd);
  }
}

/**
 * Pins `fd` at `path` and registers the unpin as its undo.
 *
 * @example Pinning a new map during create
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Transaction } from "../../engine/types.ts";
 * import type { BpfObject } from "../libbpf/object.ts";
 *
 * function pinRuleset(tx: Transaction, obj: BpfObject, dir: string): void {
 *   pinStep(tx, obj.mapFd("ruleset"), `${dir}/ruleset`);
 * }
 * ```
 */
export function pinStep(tx: Transaction, fd: number, path: string): void {
  // The undo first: a failure right after the pin still removes it.
  tx.onRollback(`unpin ${path}`, () => unpin(path));
  pinFd(fd, path);
}

/**
 * Pins `newFd` where another object was pinned; the old one is held so a
 * rollback can pin it back.
 *
 * @example Swapping the pinned program
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Transaction } from "../../engine/types.ts";
 *
 * function swapPinnedProgram(tx: Transaction, held: Held, dir: string, progFd: number): void {
 *   replacePin(tx, held, `${dir}/prog`, progFd);
 * }
 * ```
 */
export function replacePin(tx: Transaction, held: Held, path: string, newFd: number): void {
  const oldFd = held.fd(openPinQuiet(path, "any"));
  tx.onRollback(`restore ${path}`, () => {
    unpin(path);
    if (oldFd !== null) pinFd(oldFd, path);
  });
  unpin(path);
  pinFd(newFd, path);
}
