/**
 * Decoding `bpf_obj_get_info_by_fd` for programs, links and maps, and walking
 * the kernel's own object id lists (what `bpftool prog/link list` shows).
 *
 * @module
 */
import { libbpf, unwrap } from "./ffi.ts";
import { libc } from "../libc/ffi.ts";
import {
  BPF_LINK_TYPE_CGROUP,
  BPF_LINK_TYPE_NETNS,
  BPF_LINK_TYPE_TCX,
  BPF_LINK_TYPE_TRACING,
  BPF_LINK_TYPE_XDP,
  BPF_XDP,
} from "./uapi.ts";

/** What the kernel reports about a loaded program. */
export interface ProgInfo {
  type: number;
  id: number;
  /** The program's tag (hash of its instructions), hex. */
  tag: string;
  name: string;
}

/** What the kernel reports about a link. `netnsIno`/`cgroupId` are 0 once detached. */
export interface LinkInfo {
  type: number;
  id: number;
  progId: number;
  attachType: number;
  netnsIno: number;
  cgroupId: bigint;
  /** Tracing links: the BTF type id of the traced function (0 otherwise). */
  targetBtfId: number;
  /** tcx links: the device's ifindex, 0 once detached (0 for other links). */
  ifindex: number;
}

/** What the kernel reports about a map. */
export interface MapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** `map_flags` the map was created with (`BPF_F_NO_PREALLOC`, …). */
  flags: number;
  name: string;
}

function rawInfo(fd: number, size: number): DataView {
  const buf = new Uint8Array(size);
  const len = new Uint32Array([size]);
  unwrap("bpf_obj_get_info_by_fd", libbpf().bpf_obj_get_info_by_fd(fd, buf, len));
  return new DataView(buf.buffer);
}

function cName(view: DataView, offset: number, max: number): string {
  const bytes = new Uint8Array(view.buffer, offset, max);
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(bytes.subarray(0, end < 0 ? max : end));
}

/** Program info for an open program fd. */
export function progInfo(fd: number): ProgInfo {
  const v = rawInfo(fd, 256);
  const tag = [...new Uint8Array(v.buffer, 8, 8)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
  return { type: v.getUint32(0, true), id: v.getUint32(4, true), tag, name: cName(v, 64, 16) };
}

/** Link info for an open link fd (netns and cgroup links decoded). */
export function linkInfo(fd: number): LinkInfo {
  const v = rawInfo(fd, 96);
  const type = v.getUint32(0, true);
  const info: LinkInfo = {
    type,
    id: v.getUint32(4, true),
    progId: v.getUint32(8, true),
    attachType: 0,
    netnsIno: 0,
    cgroupId: 0n,
    targetBtfId: 0,
    ifindex: 0,
  };
  if (type === BPF_LINK_TYPE_NETNS) {
    info.netnsIno = v.getUint32(16, true);
    info.attachType = v.getUint32(20, true);
  } else if (type === BPF_LINK_TYPE_CGROUP) {
    info.cgroupId = v.getBigUint64(16, true);
    info.attachType = v.getUint32(24, true);
  } else if (type === BPF_LINK_TYPE_TCX) {
    info.ifindex = v.getUint32(16, true);
    info.attachType = v.getUint32(20, true);
  } else if (type === BPF_LINK_TYPE_XDP) {
    info.ifindex = v.getUint32(16, true); // 0 once detached
    info.attachType = BPF_XDP;
  } else if (type === BPF_LINK_TYPE_TRACING) {
    info.attachType = v.getUint32(16, true);
    info.targetBtfId = v.getUint32(24, true);
  }
  return info;
}

/** Map info for an open map fd. */
export function mapInfo(fd: number): MapInfo {
  const v = rawInfo(fd, 96);
  return {
    type: v.getUint32(0, true),
    id: v.getUint32(4, true),
    keySize: v.getUint32(8, true),
    valueSize: v.getUint32(12, true),
    maxEntries: v.getUint32(16, true),
    flags: v.getUint32(20, true),
    name: cName(v, 24, 16),
  };
}

type IdWalker = "bpf_prog_get_next_id" | "bpf_link_get_next_id" | "bpf_map_get_next_id";

function allIds(walker: IdWalker): number[] {
  const ids: number[] = [];
  const next = new Uint32Array(1);
  let start = 0;
  while (libbpf()[walker](start, next) === 0) {
    ids.push(next[0]);
    start = next[0];
  }
  return ids;
}

function infosById<T>(
  ids: number[],
  open: (id: number) => number,
  read: (fd: number) => T,
): T[] {
  const out: T[] = [];
  for (const id of ids) {
    const fd = open(id);
    if (fd < 0) continue; // gone between listing and opening
    try {
      out.push(read(fd));
    } finally {
      libc().close(fd);
    }
  }
  return out;
}

/**
 * Every link in the kernel, as `bpftool link list` sees it.
 *
 * @example Counting sk_lookup links on a netns
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function linksInNetns(): void {
 *   const n = listLinks().filter((l) => l.netnsIno === 4026532000).length;
 * }
 * ```
 */
export function listLinks(): LinkInfo[] {
  return infosById(
    allIds("bpf_link_get_next_id"),
    (id) => libbpf().bpf_link_get_fd_by_id(id),
    linkInfo,
  );
}

/** Every loaded program in the kernel. */
export function listPrograms(): ProgInfo[] {
  return infosById(
    allIds("bpf_prog_get_next_id"),
    (id) => libbpf().bpf_prog_get_fd_by_id(id),
    progInfo,
  );
}

/** Every map in the kernel. */
export function listMaps(): MapInfo[] {
  return infosById(
    allIds("bpf_map_get_next_id"),
    (id) => libbpf().bpf_map_get_fd_by_id(id),
    mapInfo,
  );
}

/** The tag of the program with kernel id `id`; null when it is gone. */
export function progTagById(id: number): string | null {
  const fd = libbpf().bpf_prog_get_fd_by_id(id);
  if (fd < 0) return null;
  try {
    return progInfo(fd).tag;
  } finally {
    libc().close(fd);
  }
}
