import assert from "node:assert/strict";
import { decodeKey, encodeConfig, encodeKey } from "./kernel.ts";

Deno.test("scope map keys have the C layouts of bpf/include/mptcpify.h and round-trip", () => {
  assert.deepEqual([...encodeKey("uids", "1000")], [0xe8, 0x03, 0, 0]);
  assert.deepEqual([...encodeKey("cgroups", "4294967297")], [1, 0, 0, 0, 1, 0, 0, 0]);
  const comm = encodeKey("comms", "iperf3");
  assert.equal(comm.length, 16);
  assert.deepEqual(
    [...comm.subarray(6)],
    new Array(10).fill(0),
    "NUL padded like the kernel's comm",
  );
  for (
    const [map, key] of [["uids", "0"], ["cgroups", "18446744073709551615"], ["comms", "sshd"]]
  ) {
    const m = map as "uids" | "cgroups" | "comms";
    assert.equal(decodeKey(m, encodeKey(m, key)), key);
  }
});

Deno.test("a comm key keeps its last byte NUL even for a 15-byte name", () => {
  const key = encodeKey("comms", "abcdefghijklmno");
  assert.equal(key[14], "o".charCodeAt(0));
  assert.equal(key[15], 0);
});

Deno.test("encodeConfig() writes families, match_all, walk_cgroups and a zero pad as u32s", () => {
  const bytes = encodeConfig({ families: 2, matchAll: true, walkCgroups: false });
  assert.deepEqual([...new Uint32Array(bytes.buffer)], [2, 1, 0, 0]);
});
