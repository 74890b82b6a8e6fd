/**
 * create / update / delete for TcpTuning, each kernel change paired with its
 * undo on the Transaction. Handles that must outlive a step (an old link that
 * keeps its cgroup covered until commit, the fds a rollback re-pins) are held
 * until the apply commits or finishes rolling back.
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
import type {
  TcpRule,
  TcpTuningDesired,
  TcpTuningMetaExtra,
  TcpTuningState,
} from "../../resources/tcp_tuning.ts";
import { tcpTuningActions } from "../../resources/tcp_tuning.ts";
import * as gen from "../../bpf/gen/sock_ops.ts";
import type { BpfObject, BpfProgram } from "../libbpf/object.ts";
import { BpfLink } from "../libbpf/link.ts";
import { BpfMap } from "../libbpf/map.ts";
import { libbpf } from "../libbpf/ffi.ts";
import { openPin } from "../libbpf/pins.ts";
import { beginPinDir, openMapForApply } from "../state/pin_dir.ts";
import { check, cstr, libc, O } from "../libc/ffi.ts";
import { writeMetaStep } from "../state/meta.ts";
import { metaRecord } from "../../engine/meta.ts";
import { COUNTERS_SIZE, decodeRuleset, encodeRuleset } from "./codec.ts";
import { canonicalJson } from "../../engine/hash.ts";
import { PIN, RULESET_KEY } from "./kernel.ts";
import { Held, pinStep, replacePin } from "../bpf_kind/handles.ts";
import { loadObject, loadOnPinnedMaps, swapProgram } from "../bpf_kind/program.ts";

function attachToCgroup(prog: BpfProgram, cgroup: string): BpfLink {
  const fd = check(
    `open(${cgroup})`,
    libc().open(cstr(cgroup), O.RDONLY | O.DIRECTORY | O.CLOEXEC, 0),
  );
  try {
    return BpfLink.attachCgroup(prog, fd);
  } finally {
    libc().close(fd);
  }
}

function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

function metaFor(ctx: DriverContext, ref: ResourceRef, desired: TcpTuningDesired) {
  const extra: TcpTuningMetaExtra = { cgroup: desired.cgroup, cgroupId: desired.cgroupId };
  return metaRecord(ctx, ref, { specHash: desired.specHash, objectHash: gen.objectHash }, extra);
}

/**
 * Loads the program, fills the ruleset, pins maps and program, attaches the
 * cgroup link and pins it, and writes the metadata last.
 *
 * @example Inside a driver step
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { CreateRequest } from "../../engine/types.ts";
 * import type { TcpTuningDesired } from "../../resources/tcp_tuning.ts";
 *
 * function create({ ctx, ref, desired, tx }: CreateRequest<TcpTuningDesired>) {
 *   return createTcpTuning({ ctx, ref, desired, tx });
 * }
 * ```
 */
export function createTcpTuning(
  { ctx, ref, desired, tx }: CreateRequest<TcpTuningDesired>,
): Promise<void> {
  const dir = ref.dir;
  beginPinDir(dir, tx);
  const obj = loadObject(gen.object, "sock_ops");
  try {
    const rulesetFd = obj.mapFd(gen.maps.ruleset);
    const bytes = encodeRuleset({ hz: desired.hz, seed: randomSeed(), rules: desired.rules });
    new BpfMap(rulesetFd, false).update(RULESET_KEY, bytes);
    pinStep(tx, rulesetFd, `${dir}/${PIN.ruleset}`);
    pinStep(tx, obj.mapFd(gen.maps.counters), `${dir}/${PIN.counters}`);
    const prog = obj.program(gen.programs.tune);
    pinStep(tx, prog.fd, `${dir}/${PIN.prog}`);
    const link = attachToCgroup(prog, desired.cgroup);
    try {
      pinStep(tx, link.fd, `${dir}/${PIN.link}`);
    } finally {
      link.close(); // pinned: stays attached; unpinned by the undo: detached
    }
    writeMetaStep(tx, dir, metaFor(ctx, ref, desired));
  } finally {
    obj.close();
  }
  return Promise.resolve();
}

/** The maps are opened through the same compatibility check as every kind's. */
function updateRules(tx: Transaction, dir: string, desired: TcpTuningDesired): void {
  const map = openMapForApply(dir, PIN.ruleset, tx); // open until the apply ends
  const old = map.lookup(RULESET_KEY);
  const seed = old ? decodeRuleset(old).seed : randomSeed();
  const bytes = encodeRuleset({ hz: desired.hz, seed, rules: desired.rules });
  if (old && old.every((b, i) => b === bytes[i])) return;
  tx.onRollback(`restore the rules in ${dir}/${PIN.ruleset}`, () => {
    if (old) map.update(RULESET_KEY, old);
    else map.delete(RULESET_KEY);
  });
  map.update(RULESET_KEY, bytes); // one element: callbacks see the old or the new list
  resetCounters(tx, dir, old ? decodeRuleset(old).rules : [], desired.rules);
}

/** Counters belong to a rule: a position whose rule changed starts again from zero. */
function resetCounters(tx: Transaction, dir: string, before: TcpRule[], after: TcpRule[]): void {
  const zero = new Uint8Array(COUNTERS_SIZE);
  const map = openMapForApply(dir, PIN.counters, tx);
  for (let i = 0; i < Math.max(before.length, after.length); i++) {
    if (i < before.length && i < after.length) {
      if (canonicalJson(before[i]) === canonicalJson(after[i])) continue;
    }
    const key = new Uint8Array(new Uint32Array([i]).buffer);
    const kept = map.lookup(key);
    if (!kept || kept.every((b) => b === 0)) continue;
    tx.onRollback(`restore the counters of rule ${i}`, () => map.update(key, kept));
    map.update(key, zero);
  }
}

/** A fresh load of the program, using the pinned maps (their contents stay). */
function loadReusingMaps(dir: string): BpfObject {
  const maps = { [PIN.ruleset]: gen.maps.ruleset, [PIN.counters]: gen.maps.counters };
  const explain = (e: unknown) =>
    new Error(
      `cannot load the new program on the pinned maps (did the map layout change? destroy and apply): ${
        e instanceof Error ? e.message : e
      }`,
    );
  return loadOnPinnedMaps(dir, maps, (reuse) => loadObject(gen.object, "sock_ops", reuse, explain));
}

/** Attach first, then move the pin: the old link keeps running until commit. */
function replaceLink(tx: Transaction, held: Held, dir: string, prog: BpfProgram, cgroup: string) {
  const link = attachToCgroup(prog, cgroup);
  tx.onRollback(`detach the new link on ${cgroup}`, () => link.close());
  replacePin(tx, held, `${dir}/${PIN.link}`, link.fd);
  tx.onCommit(`close the new link handle on ${cgroup}`, () => link.close());
}

function swapLinkProgram(tx: Transaction, held: Held, dir: string, progFd: number, oldId: number) {
  const link = BpfLink.openPinned(`${dir}/${PIN.link}`);
  if (!link) throw new Error(`${dir}/${PIN.link} is missing`);
  held.hold(link);
  swapProgram(tx, link, progFd, held.fd(libbpf().bpf_prog_get_fd_by_id(oldId)));
}

/**
 * Brings a deployed TcpTuning to `desired`: rule list (one map update), new
 * program build (atomic link update), link repair or cgroup move (attach
 * before detach), then the metadata.
 *
 * @example Inside a driver step
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { UpdateRequest } from "../../engine/types.ts";
 * import type {
 *   TcpTuningDesired,
 *   TcpTuningMetaExtra,
 *   TcpTuningState,
 * } from "../../resources/tcp_tuning.ts";
 *
 * type Req = UpdateRequest<TcpTuningDesired, TcpTuningState, TcpTuningMetaExtra>;
 * function update({ ctx, ref, observed, desired, changes, tx }: Req) {
 *   return updateTcpTuning({ ctx, ref, observed, desired, changes, tx });
 * }
 * ```
 */
export function updateTcpTuning(
  { ctx, ref, observed, desired, tx }: UpdateRequest<
    TcpTuningDesired,
    TcpTuningState,
    TcpTuningMetaExtra
  >,
): Promise<void> {
  const held = new Held(tx, ref.name);
  const { link } = observed.state;
  // What the plan showed, operation by operation (resources/tcp_tuning/diff.ts).
  const ops = new Set(tcpTuningActions(observed, desired).map((a) => a.op));
  updateRules(tx, ref.dir, desired); // a no-op when the element already matches
  const needLink = ops.has("attach-link");
  if (needLink || ops.has("load-program")) {
    const obj = loadReusingMaps(ref.dir);
    try {
      const prog = obj.program(gen.programs.tune);
      replacePin(tx, held, `${ref.dir}/${PIN.prog}`, prog.fd);
      if (needLink) replaceLink(tx, held, ref.dir, prog, desired.cgroup);
      else swapLinkProgram(tx, held, ref.dir, prog.fd, link!.progId);
    } finally {
      obj.close();
    }
  } else if (link && ops.has("swap-program")) {
    const progFd = held.fd(openPin(`${ref.dir}/${PIN.prog}`, "prog"))!;
    swapLinkProgram(tx, held, ref.dir, progFd, link.progId);
  }
  writeMetaStep(tx, ref.dir, metaFor(ctx, ref, desired));
  return Promise.resolve();
}
