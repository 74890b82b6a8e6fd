/**
 * create / update for PolicyChain, each kernel change paired with its undo
 * on the Transaction. Rule edits are one map update (no reload); a new build
 * is swapped onto every link atomically; links are attached before their pin
 * moves, so a device is never left without the chain mid-apply.
 *
 * @module
 */
import type {
  CreateRequest,
  DriverContext,
  ResourceRef,
  Transaction,
  UpdateRequest,
} from "../../engine/types.ts";
import {
  type DesiredLink,
  type Hook,
  type KernelRule,
  policyChainActions,
  type PolicyChainDesired,
  type PolicyChainMetaExtra,
  type PolicyChainState,
} from "../../resources/policy_chain.ts";
import * as gen from "../../bpf/gen/policy_chain.ts";
import type { BpfObject } from "../libbpf/object.ts";
import { BpfLink } from "../libbpf/link.ts";
import { BpfMap } from "../libbpf/map.ts";
import { libbpf } from "../libbpf/ffi.ts";
import { openPin, openPinQuiet, pinFd, unpin } from "../libbpf/pins.ts";
import { beginPinDir, openMapForApply, pathExists } from "../state/pin_dir.ts";
import { libc } from "../libc/ffi.ts";
import { writeMetaStep } from "../state/meta.ts";
import { metaRecord } from "../../engine/meta.ts";
import { canonicalJson } from "../../engine/hash.ts";
import { COUNTERS_SIZE, decodeRuleset, encodeRuleset } from "./codec.ts";
import { forgetFlows } from "./flows.ts";
import {
  attachTcx,
  PIN,
  possibleCpus,
  PROGRAM,
  RULESET_KEY,
  tcNetns,
  tcPinTarget,
} from "./kernel.ts";
import { netnsJournal, staleChainFilters, TC_NETNS_PIN, tcAttach, tcDetach } from "./tc.ts";
import { sockformOwners, stateRootOf } from "../libbpf/attachments.ts";
import { progInfo } from "../libbpf/info.ts";
import { Held, pinStep, replacePin } from "../bpf_kind/handles.ts";
import { loadObject, loadOnPinnedMaps, swapProgram } from "../bpf_kind/program.ts";

function metaFor(ctx: DriverContext, ref: ResourceRef, desired: PolicyChainDesired) {
  const extra: PolicyChainMetaExtra = { netns: desired.netns, netnsIno: desired.netnsIno };
  return metaRecord(ctx, ref, { specHash: desired.specHash, objectHash: gen.objectHash }, extra);
}

/**
 * Loads both programs, fills the ruleset, pins maps and programs, attaches
 * and pins one tcx link per device and hook, and writes the metadata last.
 *
 * @example Inside a driver step
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { CreateRequest } from "../../engine/types.ts";
 * import type { PolicyChainDesired } from "../../resources/policy_chain.ts";
 *
 * function create({ ctx, ref, desired, tx }: CreateRequest<PolicyChainDesired>) {
 *   return createPolicyChain({ ctx, ref, desired, tx });
 * }
 * ```
 */
export function createPolicyChain(
  { ctx, ref, desired, tx }: CreateRequest<PolicyChainDesired>,
): Promise<void> {
  const dir = ref.dir;
  beginPinDir(dir, tx);
  const obj = loadObject(gen.object, "policy_chain");
  try {
    const rulesetFd = obj.mapFd(gen.maps.ruleset);
    new BpfMap(rulesetFd, false).update(RULESET_KEY, encodeRuleset(desired.rules));
    pinStep(tx, rulesetFd, `${dir}/${PIN.ruleset}`);
    pinStep(tx, obj.mapFd(gen.maps.counters), `${dir}/${PIN.counters}`);
    pinStep(tx, obj.mapFd(gen.maps.flows), `${dir}/${PIN.flows}`);
    const progFd = (hook: Hook) => obj.program(PROGRAM[hook]).fd;
    pinStep(tx, progFd("ingress"), `${dir}/${PIN.ingress}`);
    pinStep(tx, progFd("egress"), `${dir}/${PIN.egress}`);
    pinStep(tx, progFd("xdp"), `${dir}/${PIN.xdp}`);
    if (desired.mode === "tc") ensureJournal(tx, dir, desired.netns);
    const owners = desired.mode === "tc" ? sockformOwners(stateRootOf(ctx)) : new Map();
    for (const l of desired.links) {
      if (desired.mode === "tc" && l.hook !== "xdp") {
        // Filters of ours that a killed apply left (their pins removed with its directory).
        for (const id of staleChainFilters(desired.netns, l.dev, l.hook, new Set(), owners)) {
          tcDetach(desired.netns, l.dev, l.hook, id);
        }
        pinStep(tx, progFd(l.hook), `${dir}/${l.pin}`); // the journal entry, before the filter
        addTcFilter(tx, desired.netns, l, `${dir}/${l.pin}`, progFd(l.hook));
        continue;
      }
      const linkFd = attachTcx(progFd(l.hook), desired.netns, l.ifindex, l.hook, l.dev);
      try {
        pinStep(tx, linkFd, `${dir}/${l.pin}`);
      } finally {
        libc().close(linkFd); // pinned: stays attached; unpinned by the undo: detached
      }
    }
    writeMetaStep(tx, dir, metaFor(ctx, ref, desired));
  } finally {
    obj.close();
  }
  return Promise.resolve();
}

/** The tc journal's netns map, pinned before any filter is added. */
function ensureJournal(tx: Transaction, dir: string, netns: string | null): void {
  if (pathExists(`${dir}/${TC_NETNS_PIN}`)) return;
  const map = netnsJournal(netns);
  try {
    pinStep(tx, map.fd, `${dir}/${TC_NETNS_PIN}`);
  } finally {
    map.close();
  }
}

/** Adds the filter running `progFd` (pinned at `pin`); the undo removes it again. */
function addTcFilter(
  tx: Transaction,
  netns: string | null,
  l: DesiredLink,
  pin: string,
  progFd: number,
): number {
  const progId = progInfo(progFd).id;
  tx.onRollback(`remove the tc filter on ${l.dev} ${l.hook}`, () => {
    tcDetach(netns, l.dev, l.hook, progId);
  });
  tcAttach(netns, l.dev, l.hook, pin);
  return progId;
}

/**
 * A tc link brought to the current program: the journal pin moves to it, a
 * filter running it is added, and the old program's filter goes at commit
 * (both run for a moment, with the same rules).
 */
function retargetTcLink(
  tx: Transaction,
  held: Held,
  at: { dir: string; netns: string | null },
  l: DesiredLink,
  progFd: number,
  oldProgId: number,
): void {
  const pin = `${at.dir}/${l.pin}`;
  replacePin(tx, held, pin, progFd);
  const newId = addTcFilter(tx, at.netns, l, pin, progFd);
  if (!oldProgId || oldProgId === newId) return;
  tx.onCommit(`remove the old tc filter on ${l.dev} ${l.hook}`, () => {
    tcDetach(at.netns, l.dev, l.hook, oldProgId);
  });
}

/** Filters a killed apply left behind go at commit. */
function removeStale(tx: Transaction, netns: string | null, l: DesiredLink, stale: number[]) {
  for (const id of stale) {
    tx.onCommit(`remove a stale tc filter on ${l.dev} ${l.hook}`, () => {
      tcDetach(netns, l.dev, l.hook, id);
    });
  }
}

/** Nothing changes before commit: then the filter goes, then its journal entry. */
function detachTcLink(tx: Transaction, dir: string, pin: string, progId: number): void {
  const target = tcPinTarget(pin)!;
  const netns = tcNetns(dir);
  tx.onCommit(`remove the tc filter of ${pin}`, () => {
    if (progId) tcDetach(netns, target.dev, target.hook, progId);
    unpin(`${dir}/${pin}`);
  });
}

/** One element: every packet sees the old or the new rule set, never a mix. */
function updateRules(tx: Transaction, dir: string, rules: KernelRule[]): void {
  const map = openMapForApply(dir, PIN.ruleset, tx);
  const old = map.lookup(RULESET_KEY);
  const bytes = encodeRuleset(rules);
  if (old && old.every((b, i) => b === bytes[i])) return;
  tx.onRollback(`restore the rules in ${dir}/${PIN.ruleset}`, () => {
    if (old) map.update(RULESET_KEY, old);
    else map.delete(RULESET_KEY);
  });
  map.update(RULESET_KEY, bytes);
  resetCounters(tx, dir, old ? decodeRuleset(old) : [], rules);
}

/** Counters and flows belong to a rule: a position whose rule changed starts again from zero. */
function resetCounters(tx: Transaction, dir: string, before: KernelRule[], after: KernelRule[]) {
  const map = openMapForApply(dir, PIN.counters, tx);
  const changed = new Set<number>();
  for (let i = 0; i < Math.max(before.length, after.length); i++) {
    if (i < before.length && i < after.length) {
      if (canonicalJson(before[i]) === canonicalJson(after[i])) continue;
    }
    changed.add(i);
    const key = new Uint8Array(new Uint32Array([i]).buffer);
    const kept = new Uint8Array(COUNTERS_SIZE * possibleCpus());
    if (libbpf().bpf_map_lookup_elem(map.fd, key, kept) < 0 || kept.every((b) => b === 0)) continue;
    tx.onRollback(`restore the counters of rule ${i}`, () => map.update(key, kept));
    map.update(key, new Uint8Array(kept.length));
  }
  forgetFlows(tx, dir, changed);
}

/** The flows map is kept when pinned; a build from before it had one gets a new one. */
function loadReusingMaps(dir: string): BpfObject {
  const maps: Record<string, string> = {
    [PIN.ruleset]: gen.maps.ruleset,
    [PIN.counters]: gen.maps.counters,
  };
  if (pathExists(`${dir}/${PIN.flows}`)) maps[PIN.flows] = gen.maps.flows;
  const explain = (e: unknown) =>
    new Error(
      `cannot load the new programs on the pinned maps (did the map layout change? destroy and apply): ${
        e instanceof Error ? e.message : e
      }`,
    );
  return loadOnPinnedMaps(
    dir,
    maps,
    (reuse) => loadObject(gen.object, "policy_chain", reuse, explain),
  );
}

/** The program fds to run per hook: a new build's, or the pinned ones. */
function programFds(tx: Transaction, held: Held, dir: string, reload: boolean) {
  if (!reload) {
    const pinned = (hook: Hook) => held.fd(openPin(`${dir}/${PIN[hook]}`, "prog"))!;
    return { ingress: pinned("ingress"), egress: pinned("egress"), xdp: pinned("xdp") };
  }
  const obj = held.hold(loadReusingMaps(dir));
  if (!pathExists(`${dir}/${PIN.flows}`)) {
    pinStep(tx, obj.mapFd(gen.maps.flows), `${dir}/${PIN.flows}`);
  }
  const fds = {
    ingress: obj.program(PROGRAM.ingress).fd,
    egress: obj.program(PROGRAM.egress).fd,
    xdp: obj.program(PROGRAM.xdp).fd,
  };
  for (const hook of ["ingress", "egress", "xdp"] as const) {
    replacePin(tx, held, `${dir}/${PIN[hook]}`, fds[hook]);
  }
  return fds;
}

/** Attach first, then move the pin: an old link keeps running until commit. */
function replaceLink(tx: Transaction, held: Held, path: string, linkFd: number): void {
  tx.onRollback(`detach the new link ${path}`, () => libc().close(linkFd));
  replacePin(tx, held, path, linkFd);
  tx.onCommit(`close the new link handle ${path}`, () => libc().close(linkFd));
}

function swapLink(tx: Transaction, held: Held, path: string, progFd: number, oldProgId: number) {
  const link = BpfLink.openPinned(path);
  if (!link) throw new Error(`${path} is missing`);
  held.hold(link);
  swapProgram(tx, link, progFd, held.fd(libbpf().bpf_prog_get_fd_by_id(oldProgId)));
}

function detachLink(tx: Transaction, held: Held, path: string): void {
  const fd = held.fd(openPinQuiet(path, "any"));
  // The undo is registered before the unpin: a failure between them finds the pin still there.
  tx.onRollback(`re-pin ${path}`, () => {
    if (fd !== null && !pathExists(path)) pinFd(fd, path);
  });
  unpin(path); // the held fd closes at commit: the link detaches then
}

/**
 * Brings a deployed PolicyChain to `desired`, running the operations its
 * plan showed: rules (one map update), a new build (swapped on each link),
 * links attached, swapped back or removed, then the metadata.
 *
 * @example Inside a driver step
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { UpdateRequest } from "../../engine/types.ts";
 * import type {
 *   PolicyChainDesired,
 *   PolicyChainMetaExtra,
 *   PolicyChainState,
 * } from "../../resources/policy_chain.ts";
 *
 * type Req = UpdateRequest<PolicyChainDesired, PolicyChainState, PolicyChainMetaExtra>;
 * function update({ ctx, ref, observed, desired, changes, tx }: Req) {
 *   return updatePolicyChain({ ctx, ref, observed, desired, changes, tx });
 * }
 * ```
 */
export function updatePolicyChain(
  { ctx, ref, observed, desired, tx }: UpdateRequest<
    PolicyChainDesired,
    PolicyChainState,
    PolicyChainMetaExtra
  >,
): Promise<void> {
  const held = new Held(tx, ref.name);
  const actions = policyChainActions(observed, desired);
  updateRules(tx, ref.dir, desired.rules); // a no-op when the element already matches
  const reload = actions.some((a) => a.op === "load-program");
  const fds = programFds(tx, held, ref.dir, reload);
  if (desired.mode === "tc") ensureJournal(tx, ref.dir, desired.netns);
  for (const l of desired.links) {
    const path = `${ref.dir}/${l.pin}`;
    const action = actions.find((a) => a.pin === l.pin);
    const have = observed.state.links.find((o) => o.pin === l.pin);
    if (desired.mode === "tc" && l.hook !== "xdp") {
      const retarget = have?.progId !== progInfo(fds[l.hook]).id;
      if (action?.op === "attach-link" || (have && reload) || (action && retarget)) {
        const at = { dir: ref.dir, netns: desired.netns };
        retargetTcLink(tx, held, at, l, fds[l.hook], have?.progId ?? 0);
      }
      removeStale(tx, desired.netns, l, have?.stale ?? []);
    } else if (action?.op === "attach-link") {
      const linkFd = attachTcx(fds[l.hook], desired.netns, l.ifindex, l.hook, l.dev);
      replaceLink(tx, held, path, linkFd);
    } else if (have && (reload || action?.op === "swap-program")) {
      swapLink(tx, held, path, fds[l.hook], have.progId);
    }
  }
  for (const a of actions) {
    if (a.op !== "detach-link" || !a.pin) continue;
    const have = observed.state.links.find((o) => o.pin === a.pin);
    if (tcPinTarget(a.pin)) detachTcLink(tx, ref.dir, a.pin, have?.progId ?? 0);
    else detachLink(tx, held, `${ref.dir}/${a.pin}`);
  }
  writeMetaStep(tx, ref.dir, metaFor(ctx, ref, desired));
  return Promise.resolve();
}
