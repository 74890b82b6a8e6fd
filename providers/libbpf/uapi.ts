/**
 * The numbers of `include/uapi/linux/bpf.h` that sockform passes to or reads
 * from the kernel: program, map, attach and link types and the flags beside
 * them, each under its uapi name. No other file spells one of these numbers.
 *
 * @module
 */

/** `enum bpf_prog_type` values sockform loads or probes. */
export const BPF_PROG_TYPE_SOCK_OPS = 13;
/** `enum bpf_prog_type`: fentry, fexit and fmod_ret programs. */
export const BPF_PROG_TYPE_TRACING = 26;
/** `enum bpf_prog_type`: programmable socket lookup (Linux 5.9). */
export const BPF_PROG_TYPE_SK_LOOKUP = 30;

/** `enum bpf_map_type` values sockform creates or reads. */
export const BPF_MAP_TYPE_HASH = 1;
/** `enum bpf_map_type`: array. */
export const BPF_MAP_TYPE_ARRAY = 2;
/** `enum bpf_map_type`: longest-prefix-match trie. */
export const BPF_MAP_TYPE_LPM_TRIE = 11;
/** `enum bpf_map_type`: socket array. */
export const BPF_MAP_TYPE_SOCKMAP = 15;
/** `enum bpf_map_type`: socket hash. */
export const BPF_MAP_TYPE_SOCKHASH = 18;

/** `enum bpf_attach_type`: sock_ops on a cgroup. */
export const BPF_CGROUP_SOCK_OPS = 3;
/** `enum bpf_attach_type`: fentry. */
export const BPF_TRACE_FENTRY = 24;
/** `enum bpf_attach_type`: fexit. */
export const BPF_TRACE_FEXIT = 25;
/** `enum bpf_attach_type`: fmod_ret. */
export const BPF_MODIFY_RETURN = 26;
/** `enum bpf_attach_type`: sk_lookup on a network namespace. */
export const BPF_SK_LOOKUP = 36;
/** `enum bpf_attach_type`: XDP on a device (links: 5.9+). */
export const BPF_XDP = 37;
/** `enum bpf_attach_type`: tcx ingress of a device (6.6+). */
export const BPF_TCX_INGRESS = 46;
/** `enum bpf_attach_type`: tcx egress of a device (6.6+). */
export const BPF_TCX_EGRESS = 47;

/** `enum bpf_link_type`: a tracing (fentry/fexit/fmod_ret) link. */
export const BPF_LINK_TYPE_TRACING = 2;
/** `enum bpf_link_type`: a cgroup link. */
export const BPF_LINK_TYPE_CGROUP = 3;
/** `enum bpf_link_type`: an iterator link. */
export const BPF_LINK_TYPE_ITER = 4;
/** `enum bpf_link_type`: a network namespace link. */
export const BPF_LINK_TYPE_NETNS = 5;
/** `enum bpf_link_type`: an XDP link (5.9+). */
export const BPF_LINK_TYPE_XDP = 6;
/** `enum bpf_link_type`: a tcx link (6.6+). */
export const BPF_LINK_TYPE_TCX = 11;

/** `BPF_MAP_CREATE` flag: allocate hash elements on demand (LPM tries require it). */
export const BPF_F_NO_PREALLOC = 1;

/** `enum bpf_cmd`: switch run-time statistics on for as long as the returned fd lives. */
export const BPF_ENABLE_STATS = 32;
/** `enum bpf_stats_type`: program run count and run time. */
export const BPF_STATS_RUN_TIME = 0;

/** `BPF_PROG_QUERY` flag: the programs that run, inherited ones included. */
export const BPF_F_QUERY_EFFECTIVE = 1;

/** `BPF_MAP_UPDATE_ELEM` flag: create or replace. */
export const BPF_ANY = 0n;
/** `BPF_MAP_UPDATE_ELEM` flag: create only. */
export const BPF_NOEXIST = 1n;
/** `BPF_MAP_UPDATE_ELEM` flag: replace only. */
export const BPF_EXIST = 2n;

const MAP_TYPE_NAMES: Record<number, string> = {
  [BPF_MAP_TYPE_HASH]: "HASH",
  [BPF_MAP_TYPE_ARRAY]: "ARRAY",
  [BPF_MAP_TYPE_LPM_TRIE]: "LPM_TRIE",
  [BPF_MAP_TYPE_SOCKMAP]: "SOCKMAP",
  [BPF_MAP_TYPE_SOCKHASH]: "SOCKHASH",
};

/**
 * A map type's name without the `BPF_MAP_TYPE_` prefix, or `type N` for others.
 *
 * @example Naming a map type in a diff
 * ```ts
 * mapTypeName(BPF_MAP_TYPE_HASH); // "HASH"
 * ```
 */
export function mapTypeName(type: number): string {
  return MAP_TYPE_NAMES[type] ?? `type ${type}`;
}

const TRACE_ATTACH_NAMES: Record<number, string> = {
  [BPF_TRACE_FENTRY]: "fentry",
  [BPF_TRACE_FEXIT]: "fexit",
  [BPF_MODIFY_RETURN]: "fmod_ret",
};

/**
 * The section-style name of a tracing attach type (`fentry`, `fexit`, `fmod_ret`).
 *
 * @example
 * ```ts
 * traceAttachName(BPF_MODIFY_RETURN); // "fmod_ret"
 * ```
 */
export function traceAttachName(attachType: number): string {
  return TRACE_ATTACH_NAMES[attachType] ?? "tracing";
}
