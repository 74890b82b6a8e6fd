// @vm-kernels 5.10
/**
 * The refusals of an old kernel, on Debian bullseye's stock 5.10 (no MPTCP
 * there: Debian builds 5.10 without CONFIG_MPTCP). Each newer kind is refused
 * at plan, in a netns of its own, naming what it needs, and nothing is
 * created: PathManager in userspace mode with a policy and Scheduler's BPF
 * scheduler (MPTCP, ≥ 5.6), MptcpifyHook (≥ 6.6), CongestionControl (struct_ops
 * links, ≥ 6.4), PolicyChain asked for tcx (≥ 6.6; its classic tc path works
 * on 5.10 and is left out) and TcpTuning (≥ 5.19).
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  CongestionControl,
  MptcpifyHook,
  PathManager,
  plan,
  PlanError,
  PolicyChain,
  Scheduler,
  Stack,
  TcpTuning,
} from "../../../mod.ts";
import type { Resource } from "../../../engine/types.ts";
import { kernelStore } from "../../../providers/state/kernel_store.ts";
import { privateBpffs } from "../../../lab/bpffs.ts";
import { TestResources } from "../../helpers/netns.ts";
import { skipOutsideVm, vmKernel } from "./vm_env.ts";

const R = String.raw`\(5\.10\.[^)]*\)`;

/** The names under `dir`; none when plan never made it. */
function entries(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** Plans `resource` alone on a private bpffs; returns the refusal and what the root holds after. */
async function refusal(resource: Resource): Promise<{ err: unknown; left: string[] }> {
  const fs = privateBpffs();
  try {
    const err = await plan(new Stack("old", [resource]), kernelStore(fs.root)).then(
      () => null,
      (e) => e,
    );
    return { err, left: entries(fs.root) };
  } finally {
    fs.cleanup();
  }
}

async function assertRefused(resource: Resource, message: RegExp): Promise<void> {
  const { err, left } = await refusal(resource);
  assert.ok(err instanceof PlanError, `expected a PlanError, got ${err}`);
  assert.match(err.message, message);
  assert.deepEqual(left, [], "plan created nothing under the state root");
}

const vm = vmKernel();
if (!vm) {
  skipOutsideVm("refusals of an old kernel (5.10)");
} else {
  Deno.test("the 5.10 kernel has no MPTCP at all", () => {
    assert.equal(vm.series, "5.10");
    assert.throws(() => Deno.statSync("/proc/sys/net/mptcp"), Deno.errors.NotFound);
  });

  Deno.test("PathManager mode userspace with a policy is refused at plan: MPTCP is missing", async () => {
    await using res = new TestResources();
    const ns = await res.netns("sf-old-pm");
    await assertRefused(
      new PathManager("pm", {
        netns: ns.path,
        mode: "userspace",
        policy: { builtin: "ndiffports", subflows: 2 },
      }),
      new RegExp(
        String
          .raw`^pm: PathManager needs MPTCP \(CONFIG_MPTCP\) \(Linux ≥ 5\.6\); this kernel ${R} does not have it$`,
      ),
    );
  });

  Deno.test("Scheduler with a BPF scheduler is refused at plan: MPTCP is missing", async () => {
    await using res = new TestResources();
    const ns = await res.netns("sf-old-sch");
    await assertRefused(
      new Scheduler("sch", { netns: ns.path, scheduler: "redundant" }),
      new RegExp(
        String
          .raw`^sch: Scheduler needs MPTCP \(CONFIG_MPTCP\) \(Linux ≥ 5\.6\); this kernel ${R} does not have it$`,
      ),
    );
  });

  Deno.test("MptcpifyHook is refused at plan with the ≥ 6.6 requirement", async () => {
    await assertRefused(
      new MptcpifyHook("legacy", {}),
      new RegExp(
        String
          .raw`^legacy: MptcpifyHook needs Linux ≥ 6\.6 with MPTCP enabled \(this kernel: 5\.10\.`,
      ),
    );
  });

  Deno.test("CongestionControl is refused at plan with the ≥ 6.4 requirement", async () => {
    await assertRefused(
      new CongestionControl("reno", { program: "sfReno" }),
      new RegExp(
        String
          .raw`^reno: CongestionControl needs BPF tcp_congestion_ops registered by struct_ops links \(Linux ≥ 6\.4\); this kernel ${R} does not have it$`,
      ),
    );
  });

  Deno.test("PolicyChain via tcx is refused at plan with the ≥ 6.6 requirement", async () => {
    await using res = new TestResources();
    const ns = await res.netns("sf-old-pc");
    await assertRefused(
      new PolicyChain("chain", {
        netns: ns.path,
        via: "tcx",
        attach: [{ dev: "lo", hooks: ["ingress"] }],
        rules: [],
      }),
      new RegExp(
        String
          .raw`^chain: PolicyChain needs tcx links \(BPF_TCX_INGRESS/EGRESS\) \(Linux ≥ 6\.6\); this kernel ${R} does not have it$`,
      ),
    );
  });

  Deno.test("TcpTuning is refused at plan with the ≥ 5.19 requirement", async () => {
    await assertRefused(
      new TcpTuning("web", { cgroup: "/sys/fs/cgroup/unified", rules: [] }),
      /^web: TcpTuning needs .* \(Linux ≥ 5\.19\); this kernel \(5\.10\.[^)]*\) does not have it$/,
    );
  });
}
