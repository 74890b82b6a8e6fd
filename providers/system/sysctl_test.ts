import assert from "node:assert/strict";
import { sysctlPath } from "./sysctl.ts";

Deno.test("sysctlPath() maps dotted names and keeps slashed ones", () => {
  assert.equal(sysctlPath("net.mptcp.enabled"), "/proc/sys/net/mptcp/enabled");
  assert.equal(
    sysctlPath("net/ipv4/conf/eth0.10/rp_filter"),
    "/proc/sys/net/ipv4/conf/eth0.10/rp_filter",
  );
});

Deno.test("sysctlPath() refuses names that would leave /proc/sys", () => {
  assert.throws(() => sysctlPath("../../etc/passwd"), /not a sysctl name/);
  assert.throws(() => sysctlPath("/etc/passwd"), /not a sysctl name/);
});
