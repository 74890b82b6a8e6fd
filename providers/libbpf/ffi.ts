/**
 * The one `Deno.dlopen` table for libbpf (1.1+). Each symbol carries its C
 * signature. Override the library path with `SOCKFORM_LIBBPF`.
 *
 * libbpf 1.x returns NULL + errno or a negative errno; `unwrap` and
 * `unwrapPtr` are the single funnel that turns those into `KernelCallError`.
 *
 * @module
 */
import { KernelCallError } from "../system/errno.ts";
import { errno, strerror } from "../libc/ffi.ts";

const symbols = {
  // struct bpf_object *bpf_object__open_mem(const void *buf, size_t sz, const struct bpf_object_open_opts *opts);
  bpf_object__open_mem: { parameters: ["buffer", "usize", "buffer"], result: "pointer" },
  // int bpf_object__load(struct bpf_object *obj);
  bpf_object__load: { parameters: ["pointer"], result: "i32" },
  // void bpf_object__close(struct bpf_object *obj);
  bpf_object__close: { parameters: ["pointer"], result: "void" },
  // struct bpf_program *bpf_object__find_program_by_name(const struct bpf_object *obj, const char *name);
  bpf_object__find_program_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  // struct bpf_map *bpf_object__find_map_by_name(const struct bpf_object *obj, const char *name);
  bpf_object__find_map_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  // int bpf_program__fd(const struct bpf_program *prog);
  bpf_program__fd: { parameters: ["pointer"], result: "i32" },
  // int bpf_map__fd(const struct bpf_map *map);
  bpf_map__fd: { parameters: ["pointer"], result: "i32" },
  // enum bpf_map_type bpf_map__type(const struct bpf_map *map);
  bpf_map__type: { parameters: ["pointer"], result: "u32" },
  // __u32 bpf_map__key_size(const struct bpf_map *map);
  bpf_map__key_size: { parameters: ["pointer"], result: "u32" },
  // __u32 bpf_map__value_size(const struct bpf_map *map);
  bpf_map__value_size: { parameters: ["pointer"], result: "u32" },
  // __u32 bpf_map__max_entries(const struct bpf_map *map);
  bpf_map__max_entries: { parameters: ["pointer"], result: "u32" },
  // __u32 bpf_map__map_flags(const struct bpf_map *map);
  bpf_map__map_flags: { parameters: ["pointer"], result: "u32" },
  // int bpf_map__set_map_flags(struct bpf_map *map, __u32 flags);
  bpf_map__set_map_flags: { parameters: ["pointer", "u32"], result: "i32" },
  // struct bpf_link *bpf_map__attach_struct_ops(const struct bpf_map *map);
  bpf_map__attach_struct_ops: { parameters: ["pointer"], result: "pointer" },
  // int bpf_map__reuse_fd(struct bpf_map *map, int fd);
  bpf_map__reuse_fd: { parameters: ["pointer", "i32"], result: "i32" },
  // struct bpf_link *bpf_program__attach_netns(const struct bpf_program *prog, int netns_fd);
  bpf_program__attach_netns: { parameters: ["pointer", "i32"], result: "pointer" },
  // struct bpf_link *bpf_program__attach_cgroup(const struct bpf_program *prog, int cgroup_fd);
  bpf_program__attach_cgroup: { parameters: ["pointer", "i32"], result: "pointer" },
  // struct bpf_link *bpf_program__attach_trace(const struct bpf_program *prog);
  bpf_program__attach_trace: { parameters: ["pointer"], result: "pointer" },
  // struct bpf_link *bpf_link__open(const char *path);
  bpf_link__open: { parameters: ["buffer"], result: "pointer" },
  // int bpf_link__fd(const struct bpf_link *link);
  bpf_link__fd: { parameters: ["pointer"], result: "i32" },
  // int bpf_link__pin(struct bpf_link *link, const char *path);
  bpf_link__pin: { parameters: ["pointer", "buffer"], result: "i32" },
  // int bpf_link__update_program(struct bpf_link *link, struct bpf_program *prog);
  bpf_link__update_program: { parameters: ["pointer", "pointer"], result: "i32" },
  // void bpf_link__disconnect(struct bpf_link *link);
  bpf_link__disconnect: { parameters: ["pointer"], result: "void" },
  // int bpf_link__destroy(struct bpf_link *link);
  bpf_link__destroy: { parameters: ["pointer"], result: "i32" },
  // int bpf_link_update(int link_fd, int new_prog_fd, const struct bpf_link_update_opts *opts);
  bpf_link_update: { parameters: ["i32", "i32", "pointer"], result: "i32" },
  // int bpf_link_create(int prog_fd, int target_fd, enum bpf_attach_type type, const struct bpf_link_create_opts *opts);
  bpf_link_create: { parameters: ["i32", "i32", "u32", "pointer"], result: "i32" },
  // int bpf_link_detach(int link_fd);
  bpf_link_detach: { parameters: ["i32"], result: "i32" },
  // int bpf_obj_pin(int fd, const char *pathname);
  bpf_obj_pin: { parameters: ["i32", "buffer"], result: "i32" },
  // int bpf_obj_get(const char *pathname);
  bpf_obj_get: { parameters: ["buffer"], result: "i32" },
  // int bpf_obj_get_info_by_fd(int bpf_fd, void *info, __u32 *info_len);
  bpf_obj_get_info_by_fd: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int bpf_map_create(enum bpf_map_type t, const char *name, __u32 key_size, __u32 value_size, __u32 max_entries, const struct bpf_map_create_opts *opts);
  bpf_map_create: {
    parameters: ["u32", "buffer", "u32", "u32", "u32", "pointer"],
    result: "i32",
  },
  // int bpf_map_update_elem(int fd, const void *key, const void *value, __u64 flags);
  bpf_map_update_elem: { parameters: ["i32", "buffer", "buffer", "u64"], result: "i32" },
  // int bpf_map_lookup_elem(int fd, const void *key, void *value);
  bpf_map_lookup_elem: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int bpf_map_delete_elem(int fd, const void *key);
  bpf_map_delete_elem: { parameters: ["i32", "buffer"], result: "i32" },
  // int bpf_map_get_next_key(int fd, const void *key, void *next_key);
  bpf_map_get_next_key: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, __u32 *count, const struct bpf_map_batch_opts *opts);
  bpf_map_lookup_batch: {
    parameters: ["i32", "buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  // int bpf_map_update_batch(int fd, const void *keys, const void *values, __u32 *count, const struct bpf_map_batch_opts *opts);
  bpf_map_update_batch: {
    parameters: ["i32", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  // int bpf_map_delete_batch(int fd, const void *keys, __u32 *count, const struct bpf_map_batch_opts *opts);
  bpf_map_delete_batch: { parameters: ["i32", "buffer", "buffer", "buffer"], result: "i32" },
  // int bpf_prog_query(int target_fd, enum bpf_attach_type type, __u32 query_flags, __u32 *attach_flags, __u32 *prog_ids, __u32 *prog_cnt);
  bpf_prog_query: {
    parameters: ["i32", "u32", "u32", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  // int bpf_prog_get_next_id(__u32 start_id, __u32 *next_id);
  bpf_prog_get_next_id: { parameters: ["u32", "buffer"], result: "i32" },
  // int bpf_link_get_next_id(__u32 start_id, __u32 *next_id);
  bpf_link_get_next_id: { parameters: ["u32", "buffer"], result: "i32" },
  // int bpf_map_get_next_id(__u32 start_id, __u32 *next_id);
  bpf_map_get_next_id: { parameters: ["u32", "buffer"], result: "i32" },
  // int bpf_prog_get_fd_by_id(__u32 id);
  bpf_prog_get_fd_by_id: { parameters: ["u32"], result: "i32" },
  // int bpf_link_get_fd_by_id(__u32 id);
  bpf_link_get_fd_by_id: { parameters: ["u32"], result: "i32" },
  // int bpf_map_get_fd_by_id(__u32 id);
  bpf_map_get_fd_by_id: { parameters: ["u32"], result: "i32" },
  // int libbpf_probe_bpf_prog_type(enum bpf_prog_type prog_type, const void *opts);
  libbpf_probe_bpf_prog_type: { parameters: ["u32", "pointer"], result: "i32" },
  // int libbpf_probe_bpf_map_type(enum bpf_map_type map_type, const void *opts);
  libbpf_probe_bpf_map_type: { parameters: ["u32", "pointer"], result: "i32" },
  // libbpf_print_fn_t libbpf_set_print(libbpf_print_fn_t fn);
  libbpf_set_print: { parameters: ["pointer"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

let lib: Deno.DynamicLibrary<typeof symbols> | undefined;

/** The libbpf symbol table, opened on first use (libbpf's own stderr chatter silenced). */
export function libbpf(): Deno.DynamicLibrary<typeof symbols>["symbols"] {
  if (!lib) {
    const path = Deno.env.get("SOCKFORM_LIBBPF") ?? "libbpf.so.1";
    try {
      lib = Deno.dlopen(path, symbols);
    } catch (e) {
      throw new KernelCallError(
        "dlopen",
        2,
        `${path} not loadable (install Debian's libbpf1): ${e}`,
      );
    }
    // Errors reach users through KernelCallError, so libbpf's own prints are noise.
    lib.symbols.libbpf_set_print(null);
  }
  return lib.symbols;
}

/** Funnel for int-returning libbpf calls: negative → KernelCallError naming `call`. */
export function unwrap(call: string, rc: number): number {
  if (rc < 0) {
    const code = -rc > 0 && -rc < 4096 ? -rc : errno();
    throw new KernelCallError(call, code, strerror(code));
  }
  return rc;
}

/** Funnel for pointer-returning libbpf calls: NULL → KernelCallError with errno. */
export function unwrapPtr(call: string, p: Deno.PointerValue): Deno.PointerObject {
  if (p === null) {
    const code = errno() || 22;
    throw new KernelCallError(call, code, strerror(code));
  }
  return p;
}
