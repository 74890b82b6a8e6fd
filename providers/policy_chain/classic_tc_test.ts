import assert from "node:assert/strict";
import { classicTcAvailable } from "./classic_tc.ts";

Deno.test("classic tc: modules the kernel can load or has loaded count, a missing one does not", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const paths = {
      vmlinuxBtf: `${dir}/no-btf`,
      moduleBtfDir: `${dir}/btf`,
      modulesDep: `${dir}/modules.dep`,
    };
    Deno.mkdirSync(paths.moduleBtfDir);
    Deno.writeTextFileSync(paths.modulesDep, "kernel/net/sched/sch_ingress.ko.xz:\n");
    assert.equal(classicTcAvailable(paths), false, "cls_bpf is neither loadable nor loaded");
    Deno.writeTextFileSync(`${paths.moduleBtfDir}/cls_bpf`, "");
    assert.equal(classicTcAvailable(paths), true, "sch_ingress loadable, cls_bpf loaded");
    Deno.writeTextFileSync(paths.modulesDep, "kernel/net/sched/sch_netem.ko:\n");
    assert.equal(classicTcAvailable(paths), false, "sch_ingress missing");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("classic tc: this host's kernel has both (built in or as modules)", () => {
  assert.equal(classicTcAvailable(), true);
});
