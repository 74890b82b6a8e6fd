/**
 * Who else is on a hook: the programs attached to the netns (sk_lookup) or
 * cgroup (sock_ops) a resource uses that its own pinned link does not hold.
 * The kernel's own BPF_PROG_QUERY gives them in run order; pins under the
 * state root name those that belong to another sockform resource.
 *
 * @module
 */
import { libbpf, unwrap } from "./ffi.ts";
import { type LinkInfo, linkInfo, listLinks, progInfo } from "./info.ts";
import {
  BPF_CGROUP_SOCK_OPS,
  BPF_F_QUERY_EFFECTIVE,
  BPF_LINK_TYPE_ITER,
  BPF_SK_LOOKUP,
} from "./uapi.ts";
import { openPinQuiet } from "./pins.ts";
import { check, cstr, libc, O } from "../libc/ffi.ts";
import type { DriverContext, ForeignProgram, ResourceRef } from "../../engine/types.ts";

const ENOSPC = 28;

/**
 * Program ids attached to `targetFd` for `attachType`, in run order.
 *
 * @example The sk_lookup programs of the caller's netns
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { BPF_SK_LOOKUP } from "./uapi.ts";
 * import { openNetns } from "../system/netns.ts";
 *
 * function skLookupIds(): number[] {
 *   return queryProgIds(openNetns("/proc/self/ns/net"), BPF_SK_LOOKUP);
 * }
 * ```
 */
export function queryProgIds(targetFd: number, attachType: number, effective = false): number[] {
  let room = 64;
  for (;;) {
    const ids = new Uint32Array(room);
    const count = new Uint32Array([room]);
    const flags = new Uint32Array(1);
    const rc = libbpf().bpf_prog_query(
      targetFd,
      attachType,
      effective ? BPF_F_QUERY_EFFECTIVE : 0,
      flags,
      ids,
      count,
    );
    if (rc === -ENOSPC && count[0] > room) {
      room = count[0];
      continue;
    }
    unwrap("bpf_prog_query", rc);
    return [...ids.subarray(0, count[0])];
  }
}

/** The link pinned at `path`, or null when missing, unreadable or not a link. */
function pinnedLink(path: string): LinkInfo | null {
  const fd = openPinQuiet(path, "link");
  if (fd === null) return null;
  try {
    return linkInfo(fd);
  } catch {
    return null;
  } finally {
    libc().close(fd);
  }
}

function subdirs(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].filter((e) => e.isDirectory && !e.isSymlink)
      .map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/**
 * The state root a driver's stack lives under (`<stateRoot>/<stack>` → `<stateRoot>`).
 *
 * @example
 * ```ts
 * stateRootOf({ stackDir: "/sys/fs/bpf/sockform/edge" }); // "/sys/fs/bpf/sockform"
 * ```
 */
export function stateRootOf(ctx: Pick<DriverContext, "stackDir">): string {
  return ctx.stackDir.replace(/\/[^/]+\/?$/, "");
}

/**
 * Program id → "sockform stack S resource R", for every link pinned as
 * `<stateRoot>/<stack>/<resource>/link`.
 *
 * @example
 * ```ts
 * const owners = sockformOwners("/sys/fs/bpf/sockform");
 * ```
 */
export function sockformOwners(stateRoot: string): Map<number, string> {
  const owners = new Map<number, string>();
  for (const stack of subdirs(stateRoot)) {
    for (const resource of subdirs(`${stateRoot}/${stack}`)) {
      const link = pinnedLink(`${stateRoot}/${stack}/${resource}/link`);
      if (link) owners.set(link.progId, `sockform stack ${stack} resource ${resource}`);
    }
  }
  return owners;
}

/** What the kernel says about a program id (it may vanish while we read). */
function describeProg(id: number): { name: string; tag: string } {
  const fd = libbpf().bpf_prog_get_fd_by_id(id);
  if (fd < 0) return { name: "(gone)", tag: "" };
  try {
    const info = progInfo(fd);
    return { name: info.name, tag: info.tag };
  } finally {
    libc().close(fd);
  }
}

/** One hook's programs in run order and where they are attached. */
export interface HookView {
  hook: "sk_lookup" | "sock_ops" | "fmod_ret";
  /** Program ids in run order, each with its target text (and its place, when fixed). */
  progs: { id: number; target: string; runs?: ForeignProgram["runs"] }[];
  /** Explains the effect of a foreign program given its place. */
  effect: (runs: ForeignProgram["runs"]) => { canOverride: boolean; effect: string };
}

/**
 * Turns a hook's program list into foreign programs, relative to the program
 * of the link pinned at `<ref.dir>/link`.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { DriverContext, ResourceRef } from "../../engine/types.ts";
 *
 * function skLookupForeign(ctx: DriverContext, ref: ResourceRef, progs: HookView["progs"], effect: HookView["effect"]) {
 *   return classify(ctx, ref, { hook: "sk_lookup", progs, effect });
 * }
 * ```
 */
export function classify(ctx: DriverContext, ref: ResourceRef, view: HookView): ForeignProgram[] {
  const own = pinnedLink(`${ref.dir}/link`);
  const ownAt = own ? view.progs.findIndex((p) => p.id === own.progId) : -1;
  const others = view.progs.filter((p) => p.id !== own?.progId);
  if (others.length === 0) return [];
  const owners = sockformOwners(stateRootOf(ctx));
  const links = new Map(
    listLinks().filter((l) => l.type !== BPF_LINK_TYPE_ITER).map((l) => [
      l.progId,
      l.id,
    ]),
  );
  return others.map((p) => {
    const at = view.progs.indexOf(p);
    const runs = p.runs ?? (ownAt < 0 ? "unknown" : at < ownAt ? "before" : "after");
    return {
      hook: view.hook,
      target: p.target,
      progId: p.id,
      linkId: links.get(p.id) ?? null,
      ...describeProg(p.id),
      owner: owners.get(p.id) ?? null,
      runs,
      ...view.effect(runs),
    };
  });
}

function skLookupEffect(runs: ForeignProgram["runs"]) {
  const effect = runs === "before"
    ? "runs before ours: a socket it assigns wins (ours then gets EEXIST), and it can drop"
    : runs === "after"
    ? "runs after ours: it can replace our socket (BPF_SK_LOOKUP_F_REPLACE) or drop"
    : "shares the hook: it can assign or drop connections ours would steer";
  return { canOverride: true, effect };
}

const O_NONBLOCK = 0o4000;

/**
 * Runs a query; when the kernel cannot answer it, warns and returns nothing:
 * listing foreign programs must never be what makes a plan fail.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { DriverContext, ForeignProgram } from "../../engine/types.ts";
 *
 * function labForeign(ctx: DriverContext, query: () => ForeignProgram[]) {
 *   return orWarn(ctx, "netns /run/netns/lab", () => query());
 * }
 * ```
 */
export function orWarn(
  ctx: DriverContext,
  where: string,
  query: () => ForeignProgram[],
): ForeignProgram[] {
  try {
    return query();
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    ctx.reporter.warn(
      `cannot list the BPF programs on ${where} (${why}); foreign ones are not shown`,
    );
    return [];
  }
}

function withFd<T>(path: string, flags: number, fn: (fd: number) => T): T {
  const fd = check(`open(${path})`, libc().open(cstr(path), flags | O.CLOEXEC, 0));
  try {
    return fn(fd);
  } finally {
    libc().close(fd);
  }
}

/**
 * Foreign sk_lookup programs on the netns at `netns`.
 *
 * @example From a driver's `foreign` hook
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { DriverContext, ResourceRef } from "../../engine/types.ts";
 *
 * function labForeign(ctx: DriverContext, ref: ResourceRef) {
 *   return foreignOnNetns(ctx, ref, "/run/netns/lab");
 * }
 * ```
 */
export function foreignOnNetns(
  ctx: DriverContext,
  ref: ResourceRef,
  netns: string,
): ForeignProgram[] {
  const target = `netns ${netns}`;
  return orWarn(ctx, target, () => {
    // Non-blocking: a FIFO given as the netns must not hang the plan here.
    const ids = withFd(netns, O.RDONLY | O_NONBLOCK, (fd) => queryProgIds(fd, BPF_SK_LOOKUP));
    return classify(ctx, ref, {
      hook: "sk_lookup",
      progs: ids.map((id) => ({ id, target })),
      effect: skLookupEffect,
    });
  });
}

function sockOpsEffect(runs: ForeignProgram["runs"]) {
  const effect = runs === "before"
    ? "runs before ours on each callback: ours wins where both set an option, but it can set options at callbacks where ours sets none"
    : runs === "after"
    ? "runs after ours on each callback: options it sets replace ours"
    : "shares the cgroup's sockets: it can set the same options as ours";
  return { canOverride: true, effect };
}

/** Own sock_ops programs of one cgroup directory; null when it is not a cgroup. */
function cgroupOwnIds(path: string): number[] | null {
  try {
    return withFd(
      path,
      O.RDONLY | O.DIRECTORY,
      (fd) => queryProgIds(fd, BPF_CGROUP_SOCK_OPS),
    );
  } catch {
    return null;
  }
}

/** Where each inherited program of `cgroup` is attached, walking up to the hierarchy's root. */
function ancestorTargets(cgroup: string): Map<number, string> {
  const where = new Map<number, string>();
  for (let dir = cgroup; dir !== "/";) {
    const ids = cgroupOwnIds(dir);
    if (ids === null) break;
    const label = dir === cgroup ? `cgroup ${dir}` : `cgroup ${dir} (inherited)`;
    for (const id of ids) if (!where.has(id)) where.set(id, label);
    dir = dir.replace(/\/[^/]+\/?$/, "") || "/";
  }
  return where;
}

/** Programs on descendant cgroups: they run before ours for their own sockets. */
function descendantProgs(cgroup: string, limit = 2000): HookView["progs"] {
  const out: HookView["progs"] = [];
  const queue = subdirs(cgroup).map((d) => `${cgroup}/${d}`);
  for (let i = 0; i < queue.length && i < limit; i++) {
    const dir = queue[i];
    for (const id of cgroupOwnIds(dir) ?? []) {
      out.push({ id, target: `cgroup ${dir} (descendant)`, runs: "before" });
    }
    queue.push(...subdirs(dir).map((d) => `${dir}/${d}`));
  }
  return out;
}

/**
 * Foreign sock_ops programs for the sockets of `cgroup`: those on it and
 * inherited from its ancestors (the effective list, in run order), and those
 * on its descendants.
 *
 * @example From a driver's `foreign` hook
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { DriverContext, ResourceRef } from "../../engine/types.ts";
 *
 * function webForeign(ctx: DriverContext, ref: ResourceRef) {
 *   return foreignOnCgroup(ctx, ref, "/sys/fs/cgroup/unified/web");
 * }
 * ```
 */
export function foreignOnCgroup(
  ctx: DriverContext,
  ref: ResourceRef,
  cgroup: string,
): ForeignProgram[] {
  return orWarn(ctx, `cgroup ${cgroup}`, () => {
    const effective = withFd(
      cgroup,
      O.RDONLY | O.DIRECTORY,
      (fd) => queryProgIds(fd, BPF_CGROUP_SOCK_OPS, true),
    );
    const where = ancestorTargets(cgroup);
    const progs = effective.map((id) => ({ id, target: where.get(id) ?? `cgroup ${cgroup}` }));
    return classify(ctx, ref, {
      hook: "sock_ops",
      progs: [...progs, ...descendantProgs(cgroup)],
      effect: sockOpsEffect,
    });
  });
}
