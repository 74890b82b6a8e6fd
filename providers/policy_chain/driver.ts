/**
 * The kernel driver for PolicyChain: resolve devices to ifindexes in the
 * chain's netns, read pins back, create/update/delete, foreign programs on
 * the same tcx hooks, and per-rule counters for `show`.
 *
 * @module
 */
import type {
  DeleteRequest,
  DriverContext,
  KindDriver,
  Observed,
  ResourceRef,
} from "../../engine/types.ts";
import {
  compileRules,
  type DesiredLink,
  PolicyChain,
  type PolicyChainDesired,
  type PolicyChainMetaExtra,
  type PolicyChainState,
  upgradePolicyChainExtra,
} from "../../resources/policy_chain.ts";
import { PlanError } from "../../engine/errors.ts";
import { hashJson } from "../../engine/hash.ts";
import * as gen from "../../bpf/gen/policy_chain.ts";
import { featureProblem, has, probe, requireFeature } from "../system/features.ts";
import { kernelHasBtfFunction } from "../system/btf.ts";
import { assertNetnsExists, CALLER_NETNS, netnsInode } from "../system/netns.ts";
import { listInterfaces } from "../system/interfaces.ts";
import { orWarn } from "../libbpf/attachments.ts";
import { META_PIN } from "../state/meta.ts";
import { deletePinDir, pathExists } from "../state/pin_dir.ts";
import { observePinDir } from "../bpf_kind/observe.ts";
import { linkPin, linkPins, PIN, readCounters, readState } from "./kernel.ts";
import { foreignOnDevices } from "./foreign.ts";
import { foreignClassicFilters } from "./foreign_tc.ts";
import { type FlowRecord, readFlows } from "./flows.ts";
import { pinnedProgId, tcNetns, tcPinTarget } from "./kernel.ts";
import { TC_NETNS_PIN, tcDetach, tcEnsure } from "./tc.ts";
import { CLASSIC_TC } from "./classic_tc.ts";
import { createPolicyChain, updatePolicyChain } from "./ops.ts";
import { refuseForeignXdp } from "./xdp.ts";

/** tcx links (Linux 6.6): one link per device and hook, several programs in order. */
export const TCX = probe(
  "tcx links (BPF_TCX_INGRESS/EGRESS)",
  "6.6",
  () => kernelHasBtfFunction("tcx_prog_attach"),
);

/**
 * clampWindow finds a subflow's MPTCP connection with bpf_skc_to_mptcp_sock
 * (Linux 5.19; bpf_skc_to_tcp_sock, 5.9, comes with it). The program guards
 * the call, so chains without a clamp still load where it is missing.
 */
export const CLAMP_WINDOW = probe(
  "the BPF helper bpf_skc_to_mptcp_sock (clampWindow finds a subflow's MPTCP connection)",
  "5.19",
  () => kernelHasBtfFunction("bpf_skc_to_mptcp_sock"),
);

/** Refuses clampWindow, naming its rule, on a kernel without what it needs. */
function requireClampSupport(resource: PolicyChain): void {
  const at = resource.spec.rules.findIndex((r) => r.act.clampWindow !== undefined);
  const problem = at < 0 ? null : featureProblem(CLAMP_WINDOW, PolicyChain.kind);
  if (problem) throw new PlanError(resource.name, `rules[${at}].act`, `clampWindow: ${problem}`);
}

async function resolve(ctx: DriverContext, resource: PolicyChain): Promise<PolicyChainDesired> {
  const { name, spec } = resource;
  const mode = spec.via ?? (has(TCX) ? "tcx" : "tc");
  requireFeature(mode === "tcx" ? TCX : CLASSIC_TC, name, PolicyChain.kind);
  requireClampSupport(resource);
  if (spec.netns) assertNetnsExists(name, "netns", spec.netns);
  const ifaces = await listInterfaces(spec.netns);
  const ifindexOf: Record<string, number> = {};
  spec.attach.forEach((a, i) => {
    const found = ifaces.find((f) => f.name === a.dev);
    if (!found) {
      throw new PlanError(
        name,
        `attach[${i}].dev`,
        `no device ${a.dev} in ${spec.netns ?? "the caller's netns"}`,
      );
    }
    ifindexOf[a.dev] = found.ifindex;
  });
  const links: DesiredLink[] = spec.attach.flatMap((a) =>
    a.hooks.map((hook) => ({
      pin: mode === "tcx" || hook === "xdp" ? linkPin(a.dev, hook) : `tc-${hook}-${a.dev}`,
      dev: a.dev,
      ifindex: ifindexOf[a.dev],
      hook,
    }))
  );
  const xdp = links.filter((l) => l.hook === "xdp").map((l) => ({
    ...l,
    at: spec.attach.findIndex((a) => a.dev === l.dev),
  }));
  refuseForeignXdp(name, `${ctx.stackDir}/${name}`, spec.netns ?? null, xdp);
  return {
    netns: spec.netns ?? null,
    netnsIno: String(netnsInode(spec.netns ?? CALLER_NETNS)),
    mode,
    links,
    rules: compileRules(spec.rules, ifindexOf),
    objectHash: gen.objectHash,
    specHash: hashJson(spec),
  };
}

/** A rule's recorded subflows for `show`, grouped by MPTCP connection (token). */
function flowsOf(flows: FlowRecord[], rule: number) {
  return flows.filter((f) => f.rule === rule).map(({ rule: _, ...f }) => f)
    .sort((a, b) => (a.token ?? "").localeCompare(b.token ?? ""));
}

function describe(
  _ctx: DriverContext,
  ref: ResourceRef,
  observed: Observed<PolicyChainState, PolicyChainMetaExtra>,
) {
  const rules = observed.state?.rules ?? [];
  const counters = readCounters(ref.dir, rules.length);
  const flows = readFlows(ref.dir);
  return Promise.resolve({
    netns: observed.meta?.extra.netns ?? null,
    links: observed.state?.links ?? [],
    rules: rules.map((rule, i) => ({
      index: i,
      select: rule.clauses,
      act: rule.act,
      ...(rule.act.record ? { ...counters[i], flows: flowsOf(flows, i) } : {}),
    })),
  });
}

/**
 * A tc-mode chain's filters go first (nothing else references them); the
 * undo, registered before deletePinDir's re-pin, runs after it and re-adds
 * each filter from its re-pinned journal entry.
 */
function removeTcFilters(dir: string, pins: string[], tx: DeleteRequest<unknown, unknown>["tx"]) {
  const netns = tcNetns(dir);
  for (const pin of pins) {
    const target = tcPinTarget(pin);
    const progId = target && pinnedProgId(`${dir}/${pin}`);
    if (!target || !progId) continue;
    tx.onRollback(`re-add the tc filter of ${pin}`, () => {
      tcEnsure(netns, target.dev, target.hook, `${dir}/${pin}`, progId);
    });
    tcDetach(netns, target.dev, target.hook, progId);
  }
}

function deleteChain(
  { ref, tx }: Pick<DeleteRequest<PolicyChainState, PolicyChainMetaExtra>, "ref" | "tx">,
) {
  // Links first, so the hooks go before the programs and maps they run.
  const links = pathExists(ref.dir) ? linkPins(ref.dir) : [];
  removeTcFilters(ref.dir, links, tx);
  const maps = [PIN.ruleset, PIN.counters, PIN.flows];
  const pins = [...links, PIN.ingress, PIN.egress, PIN.xdp, ...maps, TC_NETNS_PIN];
  deletePinDir(ref, [...pins, META_PIN], tx);
  return Promise.resolve();
}

/** Foreign tcx programs (tcx mode) and classic tc filters on the chain's tc hooks. */
function foreignOnHooks(ctx: DriverContext, ref: ResourceRef, desired: PolicyChainDesired) {
  const devs = desired.links.map((l) => l.dev).join(", ");
  const tcx = desired.mode === "tc"
    ? []
    : orWarn(ctx, `the tcx hooks of ${devs}`, () =>
      foreignOnDevices(ref, desired.netns, desired.links));
  const classic = orWarn(
    ctx,
    `the classic tc hooks of ${devs}`,
    () => foreignClassicFilters(ref, desired.netns, desired.links, desired.mode),
  );
  return [...tcx, ...classic];
}

/**
 * The PolicyChain kernel driver.
 *
 * @example Looking it up the way the state store does
 * ```ts
 * import { kernelDriver } from "../kinds.ts";
 * kernelDriver("PolicyChain") === policyChainDriver; // true
 * ```
 */
export const policyChainDriver: KindDriver<
  PolicyChain,
  PolicyChainDesired,
  PolicyChainState,
  PolicyChainMetaExtra
> = {
  kind: PolicyChain.kind,
  resolve,
  observe: (_ctx, ref) => observePinDir(ref, readState, upgradePolicyChainExtra),
  delete: deleteChain,
  create: createPolicyChain,
  update: updatePolicyChain,
  describe,
  foreign: (ctx, ref, desired) => Promise.resolve(foreignOnHooks(ctx, ref, desired)),
};
