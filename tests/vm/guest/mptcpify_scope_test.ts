// @vm-kernels 6.12
/**
 * MptcpifyHook on a stock Debian 6.12 kernel, with real sockets: which
 * sockets become MPTCP (by task name, uid, cgroup with descendants, family,
 * type and protocol), exclusions, rescoping as a map edit on the same link,
 * no-op re-plans, drift when the link pin goes, and destroy.
 *
 * @module
 */
import assert from "node:assert/strict";
import { MptcpifyHook, type MptcpifyHookSpecInput } from "../../../resources/mptcpify_hook.ts";
import { Stack } from "../../../engine/stack.ts";
import { plan } from "../../../engine/plan.ts";
import { applyStack, destroyStack, showStack } from "../../../engine/session.ts";
import { kernelStore } from "../../../providers/state/kernel_store.ts";
import { writeSysctl } from "../../../providers/system/sysctl.ts";
import { PlanError } from "../../../engine/errors.ts";
import { BpfLink } from "../../../providers/libbpf/link.ts";
import { has, UPDATE_SOCKET_PROTOCOL } from "../../../providers/system/features.ts";
import { privateBpffs } from "../../../lab/bpffs.ts";
import { skipOutsideVm, vmKernel } from "./vm_env.ts";
import {
  AF,
  asComm,
  asUid,
  fmodRetLinkIds,
  inCgroup,
  IPPROTO,
  scratchCgroup,
  settle,
  SOCK,
  socketProtocol,
} from "./mptcpify_support.ts";

const STACK = "mpy-scope";

function linkId(root: string): number {
  const link = BpfLink.openPinned(`${root}/${STACK}/legacy/link`);
  assert.ok(link, "the link pin exists");
  try {
    return link.info().id;
  } finally {
    link.close();
  }
}

/** A test body with a private state root, a scratch cgroup tree, and destroy + cleanup after. */
async function withHookLab(
  fn: (
    ctx: { root: string; cg: string; stack: (spec: MptcpifyHookSpecInput) => Stack },
  ) => Promise<void>,
) {
  const fs = privateBpffs();
  const cg = scratchCgroup(["apps", "apps/worker", "apps/admin"]);
  const stack = (spec: MptcpifyHookSpecInput) =>
    new Stack(STACK, [new MptcpifyHook("legacy", spec)]);
  try {
    await fn({ root: fs.root, cg: cg.path, stack });
  } finally {
    try {
      await destroyStack(stack({}), kernelStore(fs.root));
    } finally {
      fs.cleanup();
      cg.cleanup();
    }
  }
}

const vm = vmKernel();
if (!vm) {
  skipOutsideVm("MptcpifyHook scope tests");
} else {
  Deno.test("the 6.12 kernel has the update_socket_protocol hook in its BTF", () => {
    assert.equal(has(UPDATE_SOCKET_PROTOCOL), true);
  });

  Deno.test("plan refuses while net.mptcp.enabled is 0, naming the sysctl", async () => {
    const fs = privateBpffs();
    writeSysctl("net.mptcp.enabled", 0);
    try {
      const stack = new Stack(STACK, [new MptcpifyHook("legacy", {})]);
      const err = await plan(stack, kernelStore(fs.root)).then(() => null, (e) => e);
      assert.ok(err instanceof PlanError, String(err));
      assert.match(
        err.message,
        /^legacy: MptcpifyHook needs Linux ≥ 6\.6 with MPTCP enabled \(this kernel: 6\.12\.[^)]*\): net\.mptcp\.enabled is 0$/,
      );
    } finally {
      writeSysctl("net.mptcp.enabled", 1);
      fs.cleanup();
    }
  });

  Deno.test("without a hook, socket(AF_INET, SOCK_STREAM, 0) is TCP (SO_PROTOCOL 6)", () => {
    assert.deepEqual(fmodRetLinkIds(), [], "no fmod_ret link is attached before the tests");
    assert.equal(socketProtocol(), IPPROTO.TCP);
    assert.equal(asComm("sf-inscope", () => socketProtocol()), IPPROTO.TCP);
  });

  Deno.test("after apply, in-scope sockets are MPTCP (262); out-of-scope and excluded stay TCP", async (t) => {
    await withHookLab(async ({ root, cg, stack }) => {
      const spec: MptcpifyHookSpecInput = {
        scope: { commands: ["sf-inscope"], uids: [4242], cgroups: [`${cg}/apps`] },
        exclude: { commands: ["sf-excluded"], cgroups: [`${cg}/apps/admin`] },
      };
      const outcome = await applyStack(stack(spec), kernelStore(root));
      assert.equal(outcome.applied, 1);
      assert.equal(fmodRetLinkIds().length, 1);
      await t.step("by task name", () => {
        assert.equal(asComm("sf-inscope", () => socketProtocol()), IPPROTO.MPTCP);
        assert.equal(socketProtocol(), IPPROTO.TCP, "this process (comm deno) is out of scope");
      });
      await t.step("by uid", () => {
        assert.equal(asUid(4242, () => socketProtocol()), IPPROTO.MPTCP);
        assert.equal(asUid(4243, () => socketProtocol()), IPPROTO.TCP);
      });
      await t.step("by cgroup, descendants included, an excluded sub-cgroup not", () => {
        assert.equal(inCgroup(`${cg}/apps`, () => socketProtocol()), IPPROTO.MPTCP);
        assert.equal(inCgroup(`${cg}/apps/worker`, () => socketProtocol()), IPPROTO.MPTCP);
        assert.equal(inCgroup(`${cg}/apps/admin`, () => socketProtocol()), IPPROTO.TCP);
        assert.equal(
          inCgroup(cg, () => socketProtocol()),
          IPPROTO.TCP,
          "the parent is not in scope",
        );
      });
      await t.step("an excluded command stays TCP inside an in-scope cgroup", () => {
        const p = inCgroup(`${cg}/apps`, () => asComm("sf-excluded", () => socketProtocol()));
        assert.equal(p, IPPROTO.TCP);
      });
      await t.step("IPv6, IPPROTO_TCP and SOCK_NONBLOCK|SOCK_CLOEXEC are converted too", () => {
        asComm("sf-inscope", () => {
          assert.equal(socketProtocol(AF.INET6), IPPROTO.MPTCP);
          assert.equal(socketProtocol(AF.INET, SOCK.STREAM, IPPROTO.TCP), IPPROTO.MPTCP);
          const flags = SOCK.STREAM | SOCK.NONBLOCK | SOCK.CLOEXEC;
          assert.equal(socketProtocol(AF.INET, flags), IPPROTO.MPTCP);
        });
      });
      await t.step("UDP sockets are left alone", () => {
        assert.equal(asComm("sf-inscope", () => socketProtocol(AF.INET, SOCK.DGRAM)), IPPROTO.UDP);
      });
      await t.step("show reports the hook's counters", async () => {
        const [shown] = await showStack(stack(spec), kernelStore(root));
        const counters = (shown.details as { counters: { forced: number; considered: number } })
          .counters;
        assert.ok(counters.forced >= 7, `forced ${counters.forced}`);
        assert.ok(counters.considered > counters.forced);
      });
    });
  });

  Deno.test("a re-plan after apply is all no-op", async () => {
    await withHookLab(async ({ root, cg, stack }) => {
      const spec = {
        scope: { commands: ["sf-inscope"], cgroups: [cg] },
        families: ["ipv4" as const],
      };
      await applyStack(stack(spec), kernelStore(root));
      const again = await plan(stack(spec), kernelStore(root));
      assert.deepEqual(again.steps.map((s) => s.action), ["no-op"]);
    });
  });

  Deno.test("rescoping by apply is a hitless map edit: the link id is unchanged", async () => {
    await withHookLab(async ({ root, stack }) => {
      await applyStack(stack({ scope: { commands: ["sf-first"] } }), kernelStore(root));
      const before = linkId(root);
      assert.equal(asComm("sf-first", () => socketProtocol()), IPPROTO.MPTCP);
      const next = stack({ scope: { commands: ["sf-second"] }, families: ["ipv6"] });
      const p = await plan(next, kernelStore(root));
      assert.equal(p.steps[0].action, "update");
      assert.ok(p.steps[0].hitless, "a scope change is hitless");
      await applyStack(next, kernelStore(root));
      assert.equal(linkId(root), before, "same link after rescoping");
      assert.deepEqual(fmodRetLinkIds().length, 1);
      assert.equal(asComm("sf-first", () => socketProtocol()), IPPROTO.TCP);
      assert.equal(asComm("sf-second", () => socketProtocol(AF.INET)), IPPROTO.TCP, "ipv4 off");
      assert.equal(asComm("sf-second", () => socketProtocol(AF.INET6)), IPPROTO.MPTCP);
      await applyStack(stack({}), kernelStore(root));
      assert.equal(linkId(root), before);
      assert.equal(socketProtocol(), IPPROTO.MPTCP, "an empty scope converts every TCP socket");
    });
  });

  Deno.test("a removed link pin is drift: plan shows it, apply re-attaches", async () => {
    await withHookLab(async ({ root, stack }) => {
      const spec = { scope: { commands: ["sf-inscope"] } };
      await applyStack(stack(spec), kernelStore(root));
      const before = linkId(root);
      Deno.removeSync(`${root}/${STACK}/legacy/link`);
      // The kernel frees a link whose last pin goes from a workqueue, a moment later.
      const inScope = () => asComm("sf-inscope", () => socketProtocol());
      assert.equal(await settle(inScope, IPPROTO.TCP), IPPROTO.TCP, "the hook is detached");
      assert.deepEqual(fmodRetLinkIds(), []);
      const p = await plan(stack(spec), kernelStore(root));
      assert.equal(p.steps[0].action, "update");
      assert.deepEqual(p.steps[0].drift.map((c) => c.path), ["link"]);
      await applyStack(stack(spec), kernelStore(root));
      assert.notEqual(linkId(root), before, "a new link");
      assert.equal(asComm("sf-inscope", () => socketProtocol()), IPPROTO.MPTCP);
      const after = await plan(stack(spec), kernelStore(root));
      assert.deepEqual(after.steps.map((s) => s.action), ["no-op"]);
    });
  });

  Deno.test("destroy detaches the hook: new sockets are TCP again", async () => {
    const fs = privateBpffs();
    try {
      const stack = new Stack(STACK, [new MptcpifyHook("legacy", {})]);
      await applyStack(stack, kernelStore(fs.root));
      assert.equal(socketProtocol(), IPPROTO.MPTCP);
      const outcome = await destroyStack(stack, kernelStore(fs.root));
      assert.deepEqual(outcome.plan.steps.map((s) => s.action), ["delete"]);
      assert.deepEqual(fmodRetLinkIds(), []);
      assert.equal(socketProtocol(), IPPROTO.TCP);
      assert.deepEqual([...Deno.readDirSync(fs.root)], [], "nothing left in the state root");
    } finally {
      fs.cleanup();
    }
  });
}
