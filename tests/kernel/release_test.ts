/**
 * providers/libbpf/release.ts on the real kernel: removing a directory of
 * pins returns only once the program its link ran is gone, so the hook is
 * off the moment a rollback or destroy returns (no polling by the caller).
 * Each test has its own netns and private bpffs.
 */
import assert from "node:assert/strict";
import * as skLookup from "../../bpf/gen/sk_lookup.ts";
import { BpfObject } from "../../providers/libbpf/object.ts";
import { BpfLink } from "../../providers/libbpf/link.ts";
import { pinFd } from "../../providers/libbpf/pins.ts";
import { progInfo } from "../../providers/libbpf/info.ts";
import {
  programAlive,
  programIdOf,
  programIdsInDir,
  removePinsAndAwaitRelease,
} from "../../providers/libbpf/release.ts";
import { libc } from "../../providers/libc/ffi.ts";
import { netnsInode, openNetns } from "../../providers/system/netns.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { TestResources } from "../helpers/netns.ts";
import { linksOnNetns } from "../helpers/sockform_cli.ts";

/** Loads sk_lookup, attaches it to `netnsPath` and pins link, program and a map in `dir`. */
function pinnedHook(netnsPath: string, dir: string): number {
  Deno.mkdirSync(dir, { recursive: true });
  const obj = BpfObject.open(skLookup.object, "sk_lookup");
  try {
    obj.load();
    const prog = obj.program(skLookup.programs.dispatch);
    pinFd(prog.fd, `${dir}/prog`);
    pinFd(obj.mapFd(skLookup.maps.bindings), `${dir}/bindings`);
    const netnsFd = openNetns(netnsPath);
    try {
      BpfLink.attachNetns(prog, netnsFd).pinAndClose(`${dir}/link`);
    } finally {
      libc().close(netnsFd);
    }
    return progInfo(prog.fd).id;
  } finally {
    obj.close();
  }
}

Deno.test("programIdOf: a link and a program name their program; a map names none", async () => {
  await using res = new TestResources();
  const ns = await res.netns("sf-rel");
  const fs = privateBpffs();
  try {
    const id = pinnedHook(ns.path, `${fs.root}/hook`);
    const link = BpfLink.openPinned(`${fs.root}/hook/link`)!;
    try {
      assert.equal(programIdOf(link.fd), id);
    } finally {
      link.close();
    }
    assert.deepEqual(programIdsInDir(`${fs.root}/hook`), [id]);
    assert.deepEqual(programIdsInDir(`${fs.root}/nothing-here`), []);
    const stdin = 0;
    assert.equal(programIdOf(stdin), null);
    await removePinsAndAwaitRelease(`${fs.root}/hook`);
  } finally {
    fs.cleanup();
  }
});

Deno.test("removePinsAndAwaitRelease returns with the hook already off, every time", async () => {
  await using res = new TestResources();
  const ns = await res.netns("sf-rel");
  const ino = netnsInode(ns.path);
  const fs = privateBpffs();
  try {
    // Repeated because the race it closes is a matter of milliseconds.
    for (let round = 0; round < 20; round++) {
      const dir = `${fs.root}/hook-${round}`;
      const id = pinnedHook(ns.path, dir);
      assert.equal(linksOnNetns(ino), 1);
      await removePinsAndAwaitRelease(dir);
      assert.equal(programAlive(id), false, `round ${round}: program ${id} still loaded`);
      assert.equal(linksOnNetns(ino), 0, `round ${round}: link still on the netns`);
    }
  } finally {
    fs.cleanup();
  }
});
