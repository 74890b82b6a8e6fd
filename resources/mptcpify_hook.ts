/**
 * MptcpifyHook: make chosen applications' TCP sockets MPTCP sockets, with a
 * BPF fmod_ret program on `update_socket_protocol` (Linux ≥ 6.6). Unlike an
 * LD_PRELOAD wrapper (mptcpize), it reaches static binaries, Go programs and
 * any runtime that does not call libc's socket(), without changing how the
 * applications are started.
 *
 * @module
 */
import { checkedSpec } from "../engine/diagnostics.ts";
import type { Change, Observed, Resource } from "../engine/types.ts";
import type { StackRule } from "../engine/stack.ts";
import { parseSpec } from "./common/zod_errors.ts";
import {
  mptcpifyHookSchema,
  type MptcpifyHookSpec,
  type MptcpifyHookSpecInput,
} from "./mptcpify_hook/schema.ts";
import type { MptcpifyDesired, MptcpifyMetaExtra, MptcpifyState } from "./mptcpify_hook/desired.ts";
import { diffMptcpifyHook } from "./mptcpify_hook/diff.ts";

export type { EntryEdit, MhAction, MhOp } from "./mptcpify_hook/diff.ts";
export { entryEdits, mptcpifyActions } from "./mptcpify_hook/diff.ts";

export type {
  MptcpifyHookSpec,
  MptcpifyHookSpecInput,
  Selector,
  SelectorInput,
} from "./mptcpify_hook/schema.ts";
export type {
  MptcpifyConfig,
  MptcpifyDesired,
  MptcpifyEntries,
  MptcpifyState,
} from "./mptcpify_hook/desired.ts";

/**
 * Declares which processes get MPTCP instead of TCP for their
 * `socket(AF_INET[6], SOCK_STREAM, 0 | IPPROTO_TCP)` calls.
 *
 * - `scope`: any match puts a socket in scope: the creating task's cgroup v2
 *   (descendants included), its task name (`comm`, ≤ 15 bytes) or its real
 *   uid. An empty or absent scope means every TCP socket.
 * - `exclude`: the same selectors; an excluded task keeps TCP whatever else matches.
 * - `families`: `ipv4`, `ipv6` (both by default).
 *
 * Scope, exclude and families live in BPF maps: changing them is a map edit
 * on the running program, with no reload and no new link. The hook is global
 * (every netns): a netns with `net.mptcp.enabled = 0` refuses the MPTCP
 * socket, so keep MPTCP enabled wherever scoped applications run.
 *
 * @example Legacy apps in one cgroup plus iperf3 and curl anywhere, never sshd
 * ```ts
 * new MptcpifyHook("legacy-apps", {
 *   scope: {
 *     cgroups: ["/sys/fs/cgroup/unified/legacy"],
 *     commands: ["iperf3", "curl"],
 *     uids: [1000],
 *   },
 *   exclude: { commands: ["sshd"] },
 *   families: ["ipv4", "ipv6"],
 * });
 * ```
 */
export class MptcpifyHook
  implements Resource<MptcpifyHookSpec, MptcpifyDesired, MptcpifyState, MptcpifyMetaExtra> {
  /** The kind's name, as plans and state directories spell it. */
  static readonly kind = "MptcpifyHook";
  // Stacked fmod_ret programs short-circuit: the first that returns MPTCP wins,
  // so one hook's exclude could not stop another's scope. One hook per stack
  // keeps exclude meaning what it says.
  /** The kind's rules across a stack's resources, checked by `Stack.validate`. */
  static readonly stackRules: readonly StackRule[] = [
    (resources) => {
      const hooks = resources.filter((r) => r.kind === MptcpifyHook.kind);
      if (hooks.length < 2) return null;
      return {
        resource: hooks[1].name,
        path: "(resource)",
        message: `a stack holds one MptcpifyHook ("${
          hooks[0].name
        }" is already declared): merge the scopes, so exclude applies to all of them`,
      };
    },
  ];
  readonly kind: "MptcpifyHook" = MptcpifyHook.kind;
  readonly stackRules: readonly StackRule[] = MptcpifyHook.stackRules;
  readonly spec: MptcpifyHookSpec;
  readonly dependsOn: readonly string[];

  /** `name` is unique in the stack; `spec` is validated here (a bad one throws `SpecError`); `dependsOn` names resources to apply first. */
  constructor(
    readonly name: string,
    spec: MptcpifyHookSpecInput = {},
    opts: { dependsOn?: string[] } = {},
  ) {
    this.spec = checkedSpec(this, spec, () => parseSpec(mptcpifyHookSchema, spec, name));
    this.dependsOn = opts.dependsOn ?? [];
  }

  /** Pure diff between the kernel and the resolved desired state. */
  diff(
    observed: Observed<MptcpifyState, MptcpifyMetaExtra> | null,
    desired: MptcpifyDesired,
  ): Change[] {
    return diffMptcpifyHook(observed, desired);
  }
}
