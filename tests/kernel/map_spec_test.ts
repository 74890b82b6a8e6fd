/**
 * Map compatibility on the real kernel: TcpTuning's pinned maps are checked
 * against the maps its program declares (type, key and value size,
 * max_entries, flags). A foreign map pinned at `ruleset` reads as missing and
 * its difference is spelled field by field; the program's own map passes.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as gen from "../../bpf/gen/sock_ops.ts";
import { BpfObject } from "../../providers/libbpf/object.ts";
import { BpfMap } from "../../providers/libbpf/map.ts";
import { mapInfo } from "../../providers/libbpf/info.ts";
import { pinFd } from "../../providers/libbpf/pins.ts";
import { mapIncompatibility, objectMapSpec } from "../../providers/libbpf/map_spec.ts";
import { BPF_F_NO_PREALLOC, BPF_MAP_TYPE_HASH } from "../../providers/libbpf/uapi.ts";
import { openProgramMap } from "../../providers/tcp_tuning/kernel.ts";
import { RULESET_SIZE } from "../../providers/tcp_tuning/codec.ts";
import { privateBpffs } from "../../lab/bpffs.ts";

Deno.test("openProgramMap() refuses a ruleset pin whose key size and flags differ, naming both", () => {
  const spec = objectMapSpec(gen.object, gen.objectHash, gen.maps.ruleset);
  assert.deepEqual(spec, {
    type: BPF_MAP_TYPE_HASH,
    keySize: 4,
    valueSize: RULESET_SIZE,
    maxEntries: 1,
    flags: BPF_F_NO_PREALLOC,
  });
  const fs = privateBpffs();
  try {
    const dir = `${fs.root}/tt`;
    Deno.mkdirSync(dir, { recursive: true });
    const foreign = BpfMap.create(BPF_MAP_TYPE_HASH, "ruleset", 8, RULESET_SIZE, 1);
    try {
      foreign.pin(`${dir}/ruleset`);
      assert.equal(
        mapIncompatibility(spec, mapInfo(foreign.fd)),
        "KeySize: 4 changed to 8, Flags: 0x1 changed to 0x0",
      );
    } finally {
      foreign.close();
    }
    assert.equal(openProgramMap(dir, "ruleset"), null);
    // Same key and value sizes, preallocated: the old size-only check let it through.
    const sameSizes = `${fs.root}/same-sizes`;
    Deno.mkdirSync(sameSizes);
    const prealloc = BpfMap.create(BPF_MAP_TYPE_HASH, "ruleset", 4, RULESET_SIZE, 1);
    try {
      prealloc.pin(`${sameSizes}/ruleset`);
    } finally {
      prealloc.close();
    }
    assert.equal(openProgramMap(sameSizes, "ruleset"), null);
  } finally {
    fs.cleanup();
  }
});

Deno.test("openProgramMap() opens the ruleset map the loaded program created", () => {
  const fs = privateBpffs();
  const obj = BpfObject.open(gen.object, "sock_ops");
  try {
    obj.load();
    const dir = `${fs.root}/tt`;
    Deno.mkdirSync(dir, { recursive: true });
    pinFd(obj.mapFd(gen.maps.ruleset), `${dir}/ruleset`);
    const map = openProgramMap(dir, "ruleset");
    assert.ok(map, "the program's own ruleset map is compatible");
    try {
      assert.equal(mapInfo(map.fd).flags, BPF_F_NO_PREALLOC);
    } finally {
      map.close();
    }
  } finally {
    obj.close();
    fs.cleanup();
  }
});
