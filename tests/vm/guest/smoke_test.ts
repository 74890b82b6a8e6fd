/**
 * Proves the VM harness itself on every kernel of the matrix: the guest booted the kernel the
 * host meant, the guest's mounts are in place, and libc FFI works on a real socket.
 *
 * @module
 */
import assert from "node:assert/strict";
import { check, cstr, libc } from "../../../providers/libc/ffi.ts";
import { skipOutsideVm, vmKernel } from "./vm_env.ts";

const AF_INET = 2;
const SOCK_STREAM = 1;
const SOL_SOCKET = 1;
const SO_PROTOCOL = 38;
const IPPROTO_TCP = 6;
const BPF_FS_MAGIC = 0xcafe4a11;
const CGROUP2_SUPER_MAGIC = 0x63677270;

/** f_type of the file system holding `path` (the first field of struct statfs on x86_64). */
function fsType(path: string): number {
  const buf = new Uint8Array(120); // sizeof(struct statfs) on x86_64
  check("statfs", libc().statfs(cstr(path), buf));
  return Number(new DataView(buf.buffer).getBigInt64(0, true));
}

const vm = vmKernel();
if (!vm) {
  skipOutsideVm("VM harness smoke tests");
} else {
  Deno.test("the guest runs the kernel the harness booted", () => {
    assert.equal(Deno.osRelease(), vm.release);
    assert.ok(vm.release.startsWith(`${vm.series}.`), `${vm.release} is not ${vm.series}.x`);
  });

  Deno.test("bpffs is mounted at /sys/fs/bpf and cgroup v2 at /sys/fs/cgroup/unified", () => {
    assert.equal(fsType("/sys/fs/bpf"), BPF_FS_MAGIC);
    assert.equal(fsType("/sys/fs/cgroup/unified"), CGROUP2_SUPER_MAGIC);
  });

  Deno.test("socket(AF_INET, SOCK_STREAM, 0) reports IPPROTO_TCP through SO_PROTOCOL", () => {
    const fd = check("socket", libc().socket(AF_INET, SOCK_STREAM, 0));
    try {
      const value = new Uint8Array(4);
      const len = new Uint8Array(new Uint32Array([4]).buffer);
      check("getsockopt", libc().getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, value, len));
      assert.equal(new DataView(value.buffer).getInt32(0, true), IPPROTO_TCP);
    } finally {
      libc().close(fd);
    }
  });

  Deno.test("the guest root is writable where Deno and tests write", () => {
    const file = Deno.makeTempFileSync({ prefix: "sf-vm-smoke-" });
    try {
      Deno.writeTextFileSync(file, "ok");
      assert.equal(Deno.readTextFileSync(file), "ok");
    } finally {
      Deno.removeSync(file);
    }
  });
}
