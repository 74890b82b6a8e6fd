/**
 * Cgroup v2 directories as the BPF kinds name them: the one check that a
 * path is a cgroup v2 directory and the id the kernel reports for it.
 *
 * @module
 */
import { PlanError } from "../../engine/errors.ts";
import { cstr, libc } from "../libc/ffi.ts";

const CGROUP2_SUPER_MAGIC = 0x63677270n;
const CGROUP_SUPER_MAGIC = 0x27e0ebn;

function fsType(path: string): bigint | null {
  const buf = new Uint8Array(120); // struct statfs on x86_64; f_type first
  if (libc().statfs(cstr(path), buf) < 0) return null;
  return new DataView(buf.buffer).getBigUint64(0, true);
}

/**
 * Mount points of cgroup v2 hierarchies, from /proc/self/mountinfo.
 *
 * @example Where to put a cgroup
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function mounts(): string[] {
 *   return cgroup2Mounts(); // ["/sys/fs/cgroup/unified"] on a hybrid host
 * }
 * ```
 */
export function cgroup2Mounts(): string[] {
  const text = Deno.readTextFileSync("/proc/self/mountinfo");
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const [left, right] = line.split(" - ");
    if (right?.split(" ")[0] === "cgroup2") out.push(left.split(" ")[4]);
  }
  return out;
}

/**
 * Checks that `path` is an existing cgroup v2 directory and returns its id
 * (the directory's inode on cgroup2fs, which is what cgroup link info and
 * `bpf_get_current_cgroup_id` report). Throws `PlanError` on `field`;
 * `onlyV2` says, for a cgroup v1 path, why the hook needs v2.
 *
 * @example Checking a spec's cgroup at plan time
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function webCgroup() {
 *   return cgroupV2Id("web", "cgroup", "/sys/fs/cgroup/unified/web", "sock_ops attaches only to cgroup v2"); // "4711"
 * }
 * ```
 */
export function cgroupV2Id(
  resource: string,
  field: string,
  path: string,
  onlyV2 = "BPF sees only cgroup v2",
): string {
  let stat: Deno.FileInfo;
  try {
    stat = Deno.lstatSync(path);
  } catch {
    throw new PlanError(resource, field, `${path} does not exist (create it: mkdir ${path})`);
  }
  const v2 = cgroup2Mounts();
  const where = v2.length ? `cgroup v2 is mounted at ${v2.join(", ")}` : "no cgroup v2 is mounted";
  if (!stat.isDirectory) throw new PlanError(resource, field, `${path} is not a directory`);
  const type = fsType(path);
  if (type === CGROUP_SUPER_MAGIC) {
    throw new PlanError(
      resource,
      field,
      `${path} is in a cgroup v1 hierarchy; ${onlyV2} (${where})`,
    );
  }
  if (type !== CGROUP2_SUPER_MAGIC) {
    throw new PlanError(resource, field, `${path} is not a cgroup v2 directory (${where})`);
  }
  return String(stat.ino);
}
