/**
 * BPF links: attach, pin, open pinned, swap the program atomically, read info.
 *
 * @module
 */
import { libbpf, unwrap, unwrapPtr } from "./ffi.ts";
import { check, libc } from "../libc/ffi.ts";
import { type LinkInfo, linkInfo } from "./info.ts";
import { openPin, pinFd } from "./pins.ts";
import { kernelChanged } from "./change_hook.ts";
import type { BpfProgram } from "./object.ts";
import { BPF_SK_LOOKUP } from "./uapi.ts";

/**
 * An open link. Closing it detaches the hook unless the link is pinned.
 *
 * @example Attaching sk_lookup to a netns and pinning the link
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { BpfProgram } from "./object.ts";
 *
 * function attachAndPin(program: BpfProgram, netnsFd: number): void {
 *   const link = BpfLink.attachNetns(program, netnsFd);
 *   try { link.pin("/sys/fs/bpf/sockform/demo/web/link"); } finally { link.close(); }
 * }
 * ```
 */
export class BpfLink {
  #ptr: Deno.PointerObject | null;
  #fd: number;

  private constructor(ptr: Deno.PointerObject | null, fd: number) {
    this.#ptr = ptr;
    this.#fd = fd;
  }

  /** Attaches an sk_lookup (or flow dissector) program to a netns fd. */
  static attachNetns(prog: BpfProgram, netnsFd: number): BpfLink {
    return BpfLink.#wrap(
      "bpf_program__attach_netns",
      libbpf().bpf_program__attach_netns(prog.ptr, netnsFd),
    );
  }

  /** Attaches a cgroup program (sock_ops and friends) to a cgroup dir fd. */
  static attachCgroup(prog: BpfProgram, cgroupFd: number): BpfLink {
    return BpfLink.#wrap(
      "bpf_program__attach_cgroup",
      libbpf().bpf_program__attach_cgroup(prog.ptr, cgroupFd),
    );
  }

  /** Attaches a tracing program (fentry/fexit/fmod_ret) to its BTF target. */
  static attachTrace(prog: BpfProgram): BpfLink {
    return BpfLink.#wrap("bpf_program__attach_trace", libbpf().bpf_program__attach_trace(prog.ptr));
  }

  /** Attaches an already-loaded program (by fd) to a netns as sk_lookup, without an object. */
  static attachSkLookupFd(progFd: number, netnsFd: number): BpfLink {
    const fd = libbpf().bpf_link_create(progFd, netnsFd, BPF_SK_LOOKUP, null);
    const attached = new BpfLink(null, unwrap("bpf_link_create(sk_lookup)", fd));
    kernelChanged("bpf_link_create(sk_lookup)", false);
    return attached;
  }

  /** Opens a pinned link; null when nothing is pinned there. */
  static openPinned(path: string): BpfLink | null {
    const fd = openPin(path, "link");
    return fd === null ? null : new BpfLink(null, fd);
  }

  static #wrap(call: string, ptr: Deno.PointerValue): BpfLink {
    const link = unwrapPtr(call, ptr);
    const attached = new BpfLink(link, unwrap("bpf_link__fd", libbpf().bpf_link__fd(link)));
    kernelChanged(call, false);
    return attached;
  }

  get fd(): number {
    return this.#fd;
  }

  /** Pins the link (mode 0600) so it outlives this process. */
  pin(path: string): void {
    pinFd(this.#fd, path);
  }

  /**
   * Pins the link and closes our handle, even when pinning fails (then the
   * link detaches: nothing is left attached without a pin).
   */
  pinAndClose(path: string): void {
    try {
      this.pin(path);
    } finally {
      this.close();
    }
  }

  /** Swaps the link's program in one atomic kernel operation: no gap in coverage. */
  updateProgram(progFd: number): void {
    unwrap("bpf_link__update_program", libbpf().bpf_link_update(this.#fd, progFd, null));
    kernelChanged("bpf_link_update", true);
  }

  /** Detaches the link from its hook while it stays pinned (used by tests to simulate drift). */
  detach(): void {
    unwrap("bpf_link_detach", libbpf().bpf_link_detach(this.#fd));
  }

  /** Link info as the kernel reports it. */
  info(): LinkInfo {
    return linkInfo(this.#fd);
  }

  /** Closes our handle (idempotent). Pinned links stay attached. */
  close(): void {
    if (this.#fd < 0) return;
    if (this.#ptr) libbpf().bpf_link__destroy(this.#ptr);
    else check("close(link)", libc().close(this.#fd));
    this.#ptr = null;
    this.#fd = -1;
  }
}
