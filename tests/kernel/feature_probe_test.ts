/**
 * Feature probes answer in three ways against the real kernel: supported,
 * unsupported (naming the minimum kernel), or probe-failed with the kernel's
 * reason. A probe whose call fails for a reason other than "the kernel lacks
 * this" (a closed fd, a type libbpf cannot probe) is never "unsupported".
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  featureProblem,
  probe,
  probeFeature,
  progTypeSupported,
} from "../../providers/system/features.ts";
import { check, cstr, libc, O } from "../../providers/libc/ffi.ts";
import { queryProgIds } from "../../providers/libbpf/attachments.ts";
import { BPF_PROG_TYPE_SK_LOOKUP, BPF_SK_LOOKUP } from "../../providers/libbpf/uapi.ts";

/** An fd number that was open a moment ago and is closed now. */
function closedFd(): number {
  const fd = check("open(netns)", libc().open(cstr("/proc/self/ns/net"), O.RDONLY, 0));
  check("close(netns)", libc().close(fd));
  return fd;
}

Deno.test("probeFeature() reads a kernel call failing on a closed fd as probe-failed", () => {
  const fd = closedFd();
  const feature = probe("sk_lookup query on a closed fd", "5.9", () => {
    queryProgIds(fd, BPF_SK_LOOKUP);
    return true;
  });
  const found = probeFeature(feature);
  assert.equal(found.status, "probe-failed");
  assert.ok(found.status === "probe-failed");
  assert.match(found.reason, /^bpf_prog_query: EBADF/);
  assert.equal(found.denied, false);
  const line = featureProblem(feature, "SocketLookupRedirect")!;
  assert.match(line, /cannot check that this kernel has sk_lookup query on a closed fd/);
  assert.match(line, /probe failed: bpf_prog_query: EBADF/);
  assert.doesNotMatch(line, /does not have it/);
});

Deno.test("progTypeSupported() throws for a type libbpf cannot probe, so the probe failed", () => {
  const feature = probe("program type 4095", "99.0", () => progTypeSupported(4095));
  const found = probeFeature(feature);
  assert.equal(found.status, "probe-failed");
  assert.ok(found.status === "probe-failed");
  assert.match(found.reason, /probing program type 4095: EOPNOTSUPP/);
});

Deno.test("probeFeature() answers supported for sk_lookup and unsupported with the minimum kernel", () => {
  const skLookup = probe("sk_lookup here", "5.9", () => progTypeSupported(BPF_PROG_TYPE_SK_LOOKUP));
  assert.deepEqual(probeFeature(skLookup), { status: "supported" });
  assert.equal(featureProblem(skLookup, "SocketLookupRedirect"), null);
  const absent = probe("a feature no kernel has", "99.1", () => false);
  assert.deepEqual(probeFeature(absent), { status: "unsupported", minKernel: "99.1" });
  assert.match(featureProblem(absent, "X")!, /X needs a feature no kernel has \(Linux ≥ 99\.1\)/);
});
