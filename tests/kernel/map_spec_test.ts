/**
 * Map compatibility on the real kernel: TcpTuning's pinned maps are checked
 * against the maps its program declares (type, key and value size,
 * max_entries, flags). A foreign map pinned at `ruleset` reads as missing and
 * its difference is spelled field by field; the program's own map passes.
 * An apply's edits go through the same check: a TcpTuning update refuses a
 * foreign ruleset map instead of writing into it.
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
import { encodeRuleset, RULESET_SIZE } from "../../providers/tcp_tuning/codec.ts";
import { RULESET_KEY } from "../../providers/tcp_tuning/kernel.ts";
import { updateTcpTuning } from "../../providers/tcp_tuning/ops.ts";
import { Journal } from "../../engine/apply.ts";
import { TcpTuning, type TcpTuningDesired } from "../../resources/tcp_tuning.ts";
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

const reporter = { progress: () => {}, warn: () => {} };
/** Not a cgroup: an attach the check failed to prevent fails instead of tuning the host. */
const NO_CGROUP = "/nonexistent/sockform-map-spec-test";
const rules = new TcpTuning("tt", { cgroup: NO_CGROUP, rules: [{ set: { synRtoMs: 20 } }] }).spec
  .rules;

/** Updates the TcpTuning pinned in `dir` from an older build to `rules`, then rolls back. */
async function updateFromOldBuild(dir: string): Promise<void> {
  const desired: TcpTuningDesired = {
    cgroup: NO_CGROUP,
    cgroupId: "1",
    objectHash: gen.objectHash,
    hz: 250,
    rules,
    specHash: "s",
  };
  // Deployed from an older build: the update rebuilds the program on the pinned maps.
  const meta = {
    kind: "TcpTuning",
    name: "tt",
    specHash: "s",
    objectHash: "0".repeat(64),
    toolVersion: "0",
    extra: { cgroup: null, cgroupId: null },
  };
  const state = {
    pins: { link: false, prog: true, ruleset: true, counters: true },
    link: null,
    program: null,
    ruleset: null,
  };
  const tx = new Journal();
  try {
    await updateTcpTuning({
      ctx: { stackName: "t", stackDir: dir, toolVersion: "0", reporter },
      ref: { kind: "TcpTuning", name: "tt", dir },
      observed: { meta, state },
      desired,
      changes: [],
      tx,
    });
  } finally {
    await tx.rollback(); // closes what the update held open
  }
}

Deno.test("a TcpTuning update refuses a foreign ruleset map, naming the fields, and leaves it as it was", async () => {
  const fs = privateBpffs();
  const obj = BpfObject.open(gen.object, "sock_ops");
  try {
    obj.load();
    const dir = `${fs.root}/tt`;
    Deno.mkdirSync(dir, { recursive: true });
    pinFd(obj.program(gen.programs.tune).fd, `${dir}/prog`);
    pinFd(obj.mapFd(gen.maps.counters), `${dir}/counters`);
    // Same type and sizes as the program's ruleset, preallocated.
    const foreign = BpfMap.create(BPF_MAP_TYPE_HASH, "ruleset", 4, RULESET_SIZE, 1);
    try {
      foreign.pin(`${dir}/ruleset`);
      await assert.rejects(
        async () => await updateFromOldBuild(dir),
        /ruleset is a foreign map \(Flags: 0x1 changed to 0x0\): the resource must be replaced/,
      );
      assert.equal(foreign.lookup(RULESET_KEY), null, "nothing was written into the foreign map");
    } finally {
      foreign.close();
    }
  } finally {
    obj.close();
    fs.cleanup();
  }
});

Deno.test("a TcpTuning rebuild refuses a foreign counters map of the same shape before loading on it", async () => {
  const fs = privateBpffs();
  const obj = BpfObject.open(gen.object, "sock_ops");
  try {
    obj.load();
    const dir = `${fs.root}/tt`;
    Deno.mkdirSync(dir, { recursive: true });
    pinFd(obj.program(gen.programs.tune).fd, `${dir}/prog`);
    pinFd(obj.mapFd(gen.maps.ruleset), `${dir}/ruleset`);
    // The rules already match: the update's only map use is the rebuild's.
    const ruleset = BpfMap.openPinned(`${dir}/ruleset`)!;
    try {
      ruleset.update(RULESET_KEY, encodeRuleset({ hz: 250, seed: 7, rules }));
    } finally {
      ruleset.close();
    }
    const spec = objectMapSpec(gen.object, gen.objectHash, gen.maps.counters);
    const foreign = BpfMap.create(
      spec.type,
      "counters",
      spec.keySize,
      spec.valueSize,
      spec.maxEntries,
    );
    try {
      assert.equal(mapIncompatibility(spec, mapInfo(foreign.fd)), null, "same shape");
      foreign.pin(`${dir}/counters`);
      await assert.rejects(
        async () => await updateFromOldBuild(dir),
        /counters is a foreign map \(map id \d+ is not the map the program uses/,
      );
    } finally {
      foreign.close();
    }
  } finally {
    obj.close();
    fs.cleanup();
  }
});
