/**
 * A cgroup path that is not a cgroup v2 directory (a plain directory, a
 * regular file, a FIFO, a device, a file inside a cgroup, nothing at all) is
 * refused at plan time naming the field: `web.cgroup` for TcpTuning and
 * `web.scope.cgroups` for MptcpifyHook (with the path: the
 * normalised list is sorted, so an index would name the wrong entry), before any kernel check (this host
 * refuses MptcpifyHook's trampoline, which must not hide a wrong path).
 */
import assert from "node:assert/strict";
import { kernelStore, MptcpifyHook, plan, PlanError, Stack, TcpTuning } from "../../mod.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { makeFifo } from "../helpers/fifo.ts";

const CGROUP_ROOT = "/sys/fs/cgroup/unified";

Deno.test("a cgroup path that is not a cgroup v2 directory is refused naming the field", async (t) => {
  const fs = privateBpffs();
  const tmp = Deno.makeTempDirSync({ prefix: "sf-cgroup-path-" });
  const fifo = await makeFifo(tmp);
  try {
    const store = kernelStore(fs.root);
    const bad = [
      tmp,
      "/etc/passwd",
      fifo,
      "/dev/zero",
      `${tmp}/none`,
      `${CGROUP_ROOT}/cgroup.procs`,
    ];
    const kinds: [string, string, (p: string) => TcpTuning | MptcpifyHook][] = [
      [
        "TcpTuning",
        "cgroup",
        (p) => new TcpTuning("web", { cgroup: p, rules: [{ match: {}, set: { noDelay: true } }] }),
      ],
      [
        "MptcpifyHook",
        "scope.cgroups",
        (p) => new MptcpifyHook("web", { scope: { cgroups: [CGROUP_ROOT, p] } }),
      ],
    ];
    for (const [kind, field, make] of kinds) {
      for (const path of bad) {
        await t.step(`${kind} with ${path}`, async () => {
          await assert.rejects(plan(new Stack("cg", [make(path)]), store), (e: unknown) => {
            assert.ok(e instanceof PlanError, String(e));
            assert.ok(e.message.startsWith(`web.${field}: `), e.message);
            assert.ok(e.message.includes(` ${path} `) || e.message.endsWith(` ${path}`), e.message);
            assert.match(e.message, /is not a (cgroup v2 )?directory|does not exist|no cgroup at/);
            return true;
          });
        });
      }
    }
  } finally {
    fs.cleanup();
    Deno.removeSync(tmp, { recursive: true });
  }
});
