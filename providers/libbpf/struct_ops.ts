/**
 * struct_ops maps registered through BPF links: load an object whose `.struct_ops` map
 * describes a kernel ops table (an MPTCP scheduler, a TCP congestion control), register
 * it with a link that can be pinned, replace it, release it.
 *
 * Debian's libbpf 1.1 predates `.struct_ops.link` and `bpf_link__update_map`, so this
 * does their work with the calls 1.1 has: the map gets `BPF_F_LINK` before load, libbpf's
 * `bpf_map__attach_struct_ops` only fills the map value (the kernel readies, not registers,
 * a BPF_F_LINK map), and `bpf_link_create(map_fd, BPF_STRUCT_OPS)` registers it.
 *
 * @module
 */
import { libbpf, unwrap, unwrapPtr } from "./ffi.ts";
import { check, libc } from "../libc/ffi.ts";
import { BpfObject } from "./object.ts";
import { pinFd } from "./pins.ts";
import { kernelChanged } from "./change_hook.ts";

/** `BPF_F_LINK` map flag: the struct_ops map is registered by a link, not by a map update. */
export const BPF_F_LINK = 1 << 13;
/** `BPF_STRUCT_OPS` attach type of `bpf_link_create`. */
export const BPF_STRUCT_OPS = 44;
const BPF_LINK_TYPE_STRUCT_OPS = 9;
const LINK_INFO_SIZE = 64;

/**
 * A loaded object whose struct_ops map is ready to register. Closing it frees what no
 * link holds: a registered map lives on through its link.
 *
 * @example Register the shipped round-robin MPTCP scheduler
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import * as rr from "../../bpf/gen/round_robin.ts";
 *
 * function registerRoundRobin(): void {
 *   const ops = StructOpsObject.load(rr.object, "round_robin", rr.maps.round_robin);
 *   try { ops.register().pinAndClose("/sys/fs/bpf/sockform/sched/link"); } finally { ops.close(); }
 * }
 * ```
 */
export class StructOpsObject {
  readonly #obj: BpfObject;
  /** The struct_ops map's fd (owned by the object). */
  readonly mapFd: number;

  private constructor(obj: BpfObject, mapFd: number) {
    this.#obj = obj;
    this.mapFd = mapFd;
  }

  /** Opens and loads `bytes`, readying struct_ops map `mapName` for a link. */
  static load(bytes: Uint8Array, objName: string, mapName: string): StructOpsObject {
    const obj = BpfObject.open(bytes, objName);
    try {
      const map = obj.mapPtr(mapName);
      unwrap("bpf_map__set_map_flags", libbpf().bpf_map__set_map_flags(map, BPF_F_LINK));
      obj.load();
      // libbpf 1.1 writes the program fds into the map value here; its handle's detach would
      // delete that value, so the handle is dropped without detaching.
      const handle = unwrapPtr(
        `bpf_map__attach_struct_ops(${mapName})`,
        libbpf().bpf_map__attach_struct_ops(map),
      );
      libbpf().bpf_link__disconnect(handle);
      libbpf().bpf_link__destroy(handle);
      return new StructOpsObject(obj, obj.mapFd(mapName));
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  /** Registers the ops table with the kernel through a new link. */
  register(): StructOpsLink {
    const fd = libbpf().bpf_link_create(this.mapFd, 0, BPF_STRUCT_OPS, null);
    const link = new StructOpsLink(unwrap("bpf_link_create(struct_ops)", fd));
    kernelChanged("bpf_link_create(struct_ops)", false);
    return link;
  }

  /** Closes the object (idempotent); registered ops stay with their link. */
  close(): void {
    this.#obj.close();
  }
}

/**
 * A struct_ops link: while it (or its pin) lives, the ops table stays registered.
 *
 * @example Replace a registered table atomically where the kernel allows it
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function swapOps(fd: number, next: StructOpsObject): void {
 *   const link = StructOpsLink.fromFd(fd);
 *   link.updateMap(next.mapFd); // KernelCallError EOPNOTSUPP when the ops kind has no update
 * }
 * ```
 */
export class StructOpsLink {
  #fd: number;

  constructor(fd: number) {
    this.#fd = fd;
  }

  /** Wraps an fd of a struct_ops link (e.g. from a pin); the link takes ownership. */
  static fromFd(fd: number): StructOpsLink {
    return new StructOpsLink(fd);
  }

  get fd(): number {
    return this.#fd;
  }

  /** Pins the link (mode 0600) so the registration outlives this process. */
  pin(path: string): void {
    pinFd(this.#fd, path);
  }

  /** Pins the link and closes our handle, even when pinning fails (then it unregisters). */
  pinAndClose(path: string): void {
    try {
      this.pin(path);
    } finally {
      this.close();
    }
  }

  /**
   * Points the link at another ready struct_ops map in one kernel operation. Throws
   * KernelCallError (EOPNOTSUPP) when the ops kind has no `update` callback.
   */
  updateMap(newMapFd: number): void {
    unwrap("bpf_link_update(struct_ops)", libbpf().bpf_link_update(this.#fd, newMapFd, null));
    kernelChanged("bpf_link_update(struct_ops)", true);
  }

  /** Unregisters the ops table even while the link stays pinned. */
  detach(): void {
    unwrap("bpf_link_detach(struct_ops)", libbpf().bpf_link_detach(this.#fd));
    kernelChanged("bpf_link_detach(struct_ops)", true);
  }

  /** The id of the struct_ops map the link registers (0 once detached). */
  mapId(): number {
    const info = new Uint8Array(LINK_INFO_SIZE);
    const len = new Uint32Array([LINK_INFO_SIZE]);
    unwrap("bpf_obj_get_info_by_fd(link)", libbpf().bpf_obj_get_info_by_fd(this.#fd, info, len));
    const view = new DataView(info.buffer);
    const type = view.getUint32(0, true);
    if (type !== BPF_LINK_TYPE_STRUCT_OPS) throw new Error(`link type ${type} is not struct_ops`);
    return view.getUint32(16, true);
  }

  /** Closes our handle (idempotent); an unpinned link unregisters. */
  close(): void {
    if (this.#fd < 0) return;
    check("close(link)", libc().close(this.#fd));
    this.#fd = -1;
  }
}
