/**
 * MptcpifyHook on the host kernel. These machines' kernel refuses fmod_ret
 * programs (EPERM, a security policy), so here the tests prove the refusal is
 * a plain, named error at plan time, at apply time and from the CLI, and that
 * nothing is left behind. On a kernel that allows the program they prove the
 * opposite: plan proposes the create. The hook itself is tested in the VM
 * (tests/vm/guest/mptcpify_*_test.ts).
 *
 * @module
 */
import assert from "node:assert/strict";
import { MptcpifyHook } from "../../resources/mptcpify_hook.ts";
import { Stack } from "../../engine/stack.ts";
import { plan } from "../../engine/plan.ts";
import { Journal } from "../../engine/apply.ts";
import { PlanError } from "../../engine/errors.ts";
import { kernelStore } from "../../providers/state/kernel_store.ts";
import { has, UPDATE_SOCKET_PROTOCOL } from "../../providers/system/features.ts";
import { KernelCallError } from "../../providers/system/errno.ts";
import { BpfObject } from "../../providers/libbpf/object.ts";
import * as gen from "../../bpf/gen/mptcpify.ts";
import { createHook, REFUSED_MESSAGE } from "../../providers/mptcpify_hook/ops.ts";
import { desiredState } from "../../resources/mptcpify_hook/desired.ts";
import { privateBpffs } from "../../lab/bpffs.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** How this kernel answers a plain load of the program: "refused", "loads" or "no hook". */
function kernelVerdict(): "refused" | "loads" | "no hook" {
  if (!has(UPDATE_SOCKET_PROTOCOL)) return "no hook";
  const obj = BpfObject.open(gen.object, "mptcpify");
  try {
    obj.load();
    return "loads";
  } catch (e) {
    if (e instanceof KernelCallError && e.errno === 1) return "refused";
    throw e;
  } finally {
    obj.close();
  }
}

const verdict = kernelVerdict();
const hook = () => new MptcpifyHook("legacy", { scope: { commands: ["curl"] } });

Deno.test(`plan() on this kernel (${verdict}) says plainly whether MptcpifyHook can run`, async () => {
  const fs = privateBpffs();
  try {
    const attempt = plan(new Stack("refusal", [hook()]), kernelStore(fs.root));
    if (verdict === "loads") {
      const p = await attempt;
      assert.equal(p.steps[0].action, "create");
      return;
    }
    const err = await attempt.then(() => null, (e) => e);
    assert.ok(err instanceof PlanError, `expected a PlanError, got ${err}`);
    const expected = verdict === "refused"
      ? `legacy: ${REFUSED_MESSAGE}`
      : /^legacy: MptcpifyHook needs Linux ≥ 6\.6 with MPTCP enabled \(this kernel: /;
    if (typeof expected === "string") assert.equal(err.message, expected);
    else assert.match(err.message, expected);
  } finally {
    fs.cleanup();
  }
});

Deno.test({
  name: `create on a kernel that refuses fmod_ret fails with the plain message and leaves nothing${
    verdict === "refused"
      ? ""
      : ` (skipped: this kernel ${verdict === "loads" ? "allows" : "lacks"} the hook)`
  }`,
  ignore: verdict !== "refused",
  fn: async () => {
    const fs = privateBpffs();
    try {
      const dir = `${fs.root}/refusal/legacy`;
      Deno.mkdirSync(`${fs.root}/refusal`, { recursive: true });
      const ref = { kind: "MptcpifyHook", name: "legacy", dir };
      const desired = {
        objectHash: gen.objectHash,
        ...desiredState(hook().spec, {}),
        cgroupPaths: {},
        specHash: "x",
      };
      const ctx = {
        stackName: "refusal",
        stackDir: `${fs.root}/refusal`,
        toolVersion: "test",
        reporter: { progress() {}, warn() {} },
      };
      const tx = new Journal();
      const err = await Promise.resolve().then(() => createHook({ ctx, ref, desired, tx })).then(
        () => null,
        (e) => e,
      );
      assert.equal(err?.message, REFUSED_MESSAGE);
      await tx.rollback();
      assert.throws(() => Deno.lstatSync(dir), Deno.errors.NotFound);
    } finally {
      fs.cleanup();
    }
  },
});

Deno.test(`the CLI prints one line and exits 1 when MptcpifyHook cannot run (${verdict})`, async () => {
  const fs = privateBpffs();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "main.ts", "apply", "--auto-approve", "-s", "examples/mptcpify_stack.ts"],
      cwd: ROOT,
      env: { SOCKFORM_STATE_ROOT: fs.root, NO_COLOR: "1" },
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    if (verdict === "loads") {
      assert.equal(out.code, 0, stderr);
      return;
    }
    assert.equal(out.code, 1);
    const errors = stderr.split("\n").filter((l) => l.startsWith("Error:"));
    assert.equal(errors.length, 1, stderr);
    assert.match(
      errors[0],
      verdict === "refused" ? /refused the fmod_ret program \(EPERM\)/ : /6\.6/,
    );
    assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
  } finally {
    fs.cleanup();
  }
});
