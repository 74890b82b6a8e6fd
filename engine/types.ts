/**
 * The contracts between the layers: resources (pure data + diff), the engine
 * (plan → steps → apply) and the kind drivers in providers/ (the only code that
 * touches the kernel).
 *
 * @module
 */

/** What a step does to one resource. Mirrors Terraform's action names where they exist. */
export type Action = "create" | "update" | "replace" | "delete" | "no-op";

/**
 * One difference between the kernel and the stack, with why it matters.
 *
 * @example Describing a binding added to a map
 * ```ts
 * const change: Change = {
 *   path: "bindings[0]",
 *   before: undefined,
 *   after: "tcp 192.0.2.0/24:80 → nginx",
 *   reason: "binding declared but not in the kernel map",
 *   hitless: true,
 * };
 * ```
 */
export interface Change {
  /** A field path inside the spec, e.g. `bindings[2].prefix` or `link`. */
  path: string;
  /** What the kernel holds now (undefined when absent). */
  before?: unknown;
  /** What the stack wants (undefined when it should go). */
  after?: unknown;
  /** One short sentence a reviewer understands. */
  reason: string;
  /** True when applying it never drops a connection or a packet. */
  hitless: boolean;
  /** True when only a replace (delete + create) can make it so. */
  forcesReplace?: boolean;
}

/**
 * The metadata every resource keeps pinned in its own directory. The common
 * fields are the engine's (engine/meta.ts); `Extra` is the kind's own memory.
 */
export interface ResourceMeta<Extra = unknown> {
  /** Layout version (engine/meta.ts `META_SCHEMA`); absent in records older than versions. */
  schema?: number;
  /** The resource kind, e.g. `TcpTuning`. */
  kind: string;
  /** The resource's name. */
  name: string;
  /** sha256 of the canonical desired spec the kernel was last made to match. */
  specHash: string;
  /** sha256 of the BPF object bytes in use (empty for netlink-only kinds). */
  objectHash: string;
  /** The sockform version that last applied it. */
  toolVersion: string;
  /** Kind-specific memory, e.g. the netns's original endpoints for PathManager. */
  extra?: Extra;
}

/**
 * A record as a kind reads or writes it: its `extra` is always there, in the current layout.
 *
 * @example Reading a kind's memory without a second optional chain
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { readKindMeta } from "../providers/state/meta.ts";
 * import type { TcpTuningMetaExtra } from "../mod.ts";
 * import { upgradeTcpTuningExtra } from "../resources/tcp_tuning/diff.ts";
 *
 * function cgroupOf(dir: string) {
 *   const meta: KindMeta<TcpTuningMetaExtra> | null = readKindMeta(dir, upgradeTcpTuningExtra);
 *   return meta?.extra.cgroup;
 * }
 * ```
 */
export type KindMeta<Extra> = ResourceMeta<Extra> & { extra: Extra };

/**
 * What a kind driver reads back from the kernel for one resource. `meta` is the
 * pinned metadata (null when missing or unreadable); `state` is kind-specific
 * and must be plain JSON so it can go into saved plans and staleness tokens.
 */
export interface Observed<S = unknown, Extra = unknown> {
  /** The metadata with the kind's `extra` upgraded to the current layout. */
  meta: KindMeta<Extra> | null;
  /** The kind's own view of the kernel. */
  state: S;
}

/** Where a resource lives: `<stateRoot>/<stack>/<name>/`. */
export interface ResourceRef {
  kind: string;
  name: string;
  /** Absolute path of the resource's directory on bpffs. */
  dir: string;
}

/** Progress and diagnostics sink shared by the engine and drivers. */
export interface Reporter {
  /** A step is under way, e.g. `creating SocketLookupRedirect.web`. */
  progress(message: string): void;
  /** Something the user should see that does not stop the run. */
  warn(message: string): void;
}

/** Per-run facts handed to drivers. */
export interface DriverContext {
  stackName: string;
  /** `<stateRoot>/<stack>` */
  stackDir: string;
  toolVersion: string;
  reporter: Reporter;
  /** The stack's declared resources, for checks that involve another (absent in tests). */
  resources?: readonly Resource[];
}

/**
 * Undo and commit hooks for one apply. Drivers register an undo for every
 * kernel change they make, so a failed later step can roll the earlier ones
 * back; destructive work that cannot be undone (closing the last fd of a link)
 * is deferred to `onCommit`.
 */
export interface Transaction {
  onRollback(description: string, undo: () => unknown): void;
  onCommit(description: string, commit: () => unknown): void;
}

/** One problem a {@linkcode StackRule} finds: the resource, its field and what is wrong. */
export interface StackRuleProblem {
  /** The resource's name. */
  resource: string;
  /** The field, as a path in its spec. */
  path: string;
  /** What is wrong. */
  message: string;
}

/**
 * A cross-resource rule a kind imposes, e.g. "one sk_lookup program per
 * netns": the problems it finds in a stack's resources (every one, so a
 * single `validate` shows them all), one problem, or null.
 */
export interface StackRule {
  (resources: readonly Resource[]): StackRuleProblem | readonly StackRuleProblem[] | null;
}

/**
 * A declared resource: validated, normalised spec plus a pure diff.
 * Resources never touch the kernel.
 */
export interface Resource<Spec = unknown, Desired = unknown, State = unknown, Extra = unknown> {
  /** The kind's name, e.g. `SocketLookupRedirect`. */
  readonly kind: string;
  /** The resource's name, unique in its stack. */
  readonly name: string;
  /** The validated, normalised spec (plain JSON). */
  readonly spec: Spec;
  /** Names of resources in the same stack this one must follow. */
  readonly dependsOn: readonly string[];
  /**
   * Optional: resources of the stack this one follows without being told, e.g. a
   * TcpTuning whose rules may name a congestion control a CongestionControl registers.
   */
  follows?(resources: readonly Resource[]): string[];
  /** Pure: the changes needed to turn `observed` into `desired`. */
  diff(observed: Observed<State, Extra> | null, desired: Desired): Change[];
  /** The kind's cross-resource rules (one array per kind), checked by `Stack.validate`. */
  readonly stackRules?: readonly StackRule[];
}

/**
 * A program this resource does not own, attached to a hook the resource uses
 * (or will use). sockform never touches it: it is a warning, not a change.
 *
 * @example A foreign sk_lookup program that runs first
 * ```ts
 * const f: ForeignProgram = {
 *   hook: "sk_lookup", target: "netns /run/netns/lab", progId: 42, linkId: 7,
 *   name: "steal80", tag: "0123456789abcdef", owner: null, runs: "before",
 *   canOverride: true, effect: "runs before ours: a socket it assigns wins",
 * };
 * ```
 */
export interface ForeignProgram {
  /** The attach point: `sk_lookup`, `sock_ops` or `fmod_ret`. */
  hook: string;
  /** Where it is attached, e.g. `netns /run/netns/lab` or `cgroup /sys/fs/cgroup/x`. */
  target: string;
  /** Its BPF program id. */
  progId: number;
  /** The BPF link holding it, when it is attached through one. */
  linkId: number | null;
  /** Its BPF program name. */
  name: string;
  /** Its BPF program tag (hex). */
  tag: string;
  /** `sockform stack S resource R` when another sockform resource owns it, else null. */
  owner: string | null;
  /** Its place in the run order relative to this resource's program. */
  runs: "before" | "after" | "unknown";
  /** True when it can undo or preempt what this resource does. */
  canOverride: boolean;
  /** One sentence: how it interacts with this resource's program. */
  effect: string;
}

/** What a driver's create gets: where, what, and the apply's transaction. */
export interface CreateRequest<Desired> {
  ctx: DriverContext;
  ref: ResourceRef;
  desired: Desired;
  tx: Transaction;
}

/** What a driver's update gets: a create's request plus what is there and the plan's changes. */
export interface UpdateRequest<Desired, State, Extra> extends CreateRequest<Desired> {
  observed: Observed<State, Extra>;
  /** The changes the plan showed for this resource. */
  changes: Change[];
}

/** What a driver's delete gets. */
export interface DeleteRequest<State, Extra> {
  ctx: DriverContext;
  ref: ResourceRef;
  observed: Observed<State, Extra>;
  tx: Transaction;
}

/**
 * The kernel side of one resource kind. Lives in providers/.
 * `resolve` turns a spec into the desired kernel state (finding listeners,
 * cgroup ids, checking features) and throws `PlanError` with a field path when
 * the kernel cannot satisfy it.
 */
export interface KindDriver<
  R extends Resource = Resource,
  Desired = unknown,
  State = unknown,
  Extra = unknown,
> {
  readonly kind: string;
  resolve(ctx: DriverContext, resource: R): Promise<Desired>;
  observe(ctx: DriverContext, ref: ResourceRef): Promise<Observed<State, Extra> | null>;
  create(req: CreateRequest<Desired>): Promise<void>;
  /** Brings a deployed resource to `desired`, carrying out the plan's `changes`. */
  update(req: UpdateRequest<Desired, State, Extra>): Promise<void>;
  delete(req: DeleteRequest<State, Extra>): Promise<void>;
  /**
   * Optional: programs other than this resource's on the hooks `desired` uses,
   * for plan and show to warn about (never diffed, never in the staleness token).
   */
  foreign?(ctx: DriverContext, ref: ResourceRef, desired: Desired): Promise<ForeignProgram[]>;
  /** Optional: kind-specific extras for `show` (counters and the like). */
  describe?(
    ctx: DriverContext,
    ref: ResourceRef,
    observed: Observed<State, Extra>,
  ): Promise<unknown>;
}
