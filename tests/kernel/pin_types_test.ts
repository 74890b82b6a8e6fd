/**
 * Typed pinned opens on the real kernel: a pin holding another kind of BPF
 * object than the caller expects (a map where a link belongs, a program
 * where a map belongs) is refused with an error naming both kinds and the
 * pin path, in a private bpffs.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as skLookup from "../../bpf/gen/sk_lookup.ts";
import { BpfObject } from "../../providers/libbpf/object.ts";
import { BpfLink } from "../../providers/libbpf/link.ts";
import { BpfMap } from "../../providers/libbpf/map.ts";
import { objectKind, openPin, openPinQuiet, pinFd } from "../../providers/libbpf/pins.ts";
import { BPF_MAP_TYPE_HASH } from "../../providers/libbpf/uapi.ts";
import { KernelCallError } from "../../providers/system/errno.ts";
import { libc } from "../../providers/libc/ffi.ts";
import { netnsInode, openNetns } from "../../providers/system/netns.ts";
import { TestResources } from "../helpers/netns.ts";
import { privateBpffs } from "../../lab/bpffs.ts";

Deno.test("BpfLink.openPinned() refuses a map pinned where a link is expected", () => {
  const fs = privateBpffs();
  try {
    Deno.mkdirSync(fs.root, { recursive: true });
    const path = `${fs.root}/link`;
    const map = BpfMap.create(BPF_MAP_TYPE_HASH, "not_a_link", 4, 4, 1);
    try {
      assert.equal(objectKind(map.fd), "map");
      map.pin(path);
    } finally {
      map.close();
    }
    assert.throws(() => BpfLink.openPinned(path), (e: unknown) => {
      assert.ok(e instanceof KernelCallError);
      assert.equal(
        e.message,
        `bpf_obj_get(${path}): EINVAL (a map is pinned at ${path} where a link is expected)`,
      );
      return true;
    });
    assert.equal(openPinQuiet(path, "link"), null);
    const fd = openPin(path, "map")!;
    libc().close(fd);
  } finally {
    fs.cleanup();
  }
});

Deno.test("BpfMap.openPinned() refuses a program pinned where a map is expected", () => {
  const fs = privateBpffs();
  const obj = BpfObject.open(skLookup.object, "sk_lookup");
  try {
    obj.load();
    Deno.mkdirSync(fs.root, { recursive: true });
    const path = `${fs.root}/bindings`;
    const prog = obj.program(skLookup.programs.dispatch);
    assert.equal(objectKind(prog.fd), "prog");
    pinFd(prog.fd, path);
    assert.throws(
      () => BpfMap.openPinned(path),
      new RegExp(`a prog is pinned at ${path} where a map is expected`),
    );
  } finally {
    obj.close();
    fs.cleanup();
  }
});

Deno.test("BpfLink.openPinned() opens a pinned link, whose reopened fd the kernel names bpf-link", async () => {
  await using res = new TestResources();
  const ns = await res.netns("sf-pintype");
  const fs = privateBpffs();
  const obj = BpfObject.open(skLookup.object, "sk_lookup");
  try {
    obj.load();
    Deno.mkdirSync(fs.root, { recursive: true });
    const netnsFd = openNetns(ns.path);
    try {
      const prog = obj.program(skLookup.programs.dispatch);
      BpfLink.attachNetns(prog, netnsFd).pinAndClose(`${fs.root}/link`);
    } finally {
      libc().close(netnsFd);
    }
    const link = BpfLink.openPinned(`${fs.root}/link`)!;
    try {
      assert.equal(objectKind(link.fd), "link");
      assert.equal(link.info().netnsIno, netnsInode(ns.path));
    } finally {
      link.close();
    }
    assert.throws(
      () => openPin(`${fs.root}/link`, "map"),
      /a link is pinned at .* where a map is expected/,
    );
  } finally {
    obj.close();
    fs.cleanup();
  }
});
