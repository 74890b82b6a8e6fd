/**
 * An in-memory kernel for fast engine tests ONLY. It models what the engine
 * relies on: resource directories with metadata and state, live kernel objects
 * that pins keep alive, an in-process writer lock, and a generic driver whose
 * every change registers a real undo. Fault injection and tamper helpers
 * simulate failing drivers, drift, interrupted applies and `kill -9`.
 *
 * @module
 */
import type { StateStore, StoredResource } from "../engine/store.ts";
import type { KindDriver, ResourceMeta, ResourceRef, Transaction } from "../engine/types.ts";
import { UserError } from "../engine/errors.ts";
import { hashJson } from "../engine/hash.ts";
import { TOOL_VERSION } from "../engine/version.ts";

/** One resource directory: its metadata pin, its state, the kernel object its pins hold. */
export interface FakeDir {
  meta: ResourceMeta | null;
  state: unknown;
  object: string;
}

/** The operations fault injection can target. */
export type FakeOp = "resolve" | "observe" | "create" | "update" | "delete" | "undo" | "commit";

/**
 * Where inside an operation a fault strikes: `start` before any change,
 * `midway` after the pins but before the metadata (what an interrupted create
 * leaves), `end` after the change and its undo are registered.
 */
export type FakeFaultPoint = "start" | "midway" | "end";

/** How a fault behaves: throw an error, or simulate `kill -9` (see `FakeStore.reboot`). */
export interface FakeFaultOptions {
  at?: FakeFaultPoint;
  message?: string;
  crash?: boolean;
}

interface Fault extends Required<FakeFaultOptions> {
  op: FakeOp;
  name: string;
}

/** Options for `fakeStore`. */
export interface FakeStoreOptions {
  /** Shown as the state root (never touched on disk). Default `/fake/sockform`. */
  root?: string;
  /** Kinds that have a driver. Default `["FakeThing"]`. */
  kinds?: string[];
}

/** A snapshot of the whole fake kernel, comparable with `assert.deepEqual`. */
export interface FakeSnapshot {
  dirs: Record<string, FakeDir>;
  live: string[];
}

/** The fake store: a `StateStore` plus inspection, fault and tamper helpers. */
export interface FakeStore extends StateStore {
  /** Every driver and store operation in order, e.g. `create a`, `undo create a`. */
  readonly log: string[];
  /** How many `lock()` calls had to wait for another holder. */
  readonly lockWaits: number;
  /** True once a `crash` fault fired: later changes are ignored until `reboot`. */
  readonly crashed: boolean;
  snapshot(): FakeSnapshot;
  /** The resource directory `<root>/<stack>/<name>`, or undefined. */
  read(stack: string, name: string): FakeDir | undefined;
  /** Resource names under a stack, sorted. */
  names(stack: string): string[];
  /** Makes `op` on resource `name` fail (once per call to failOn, until cleared). */
  failOn(op: FakeOp, name: string, opts?: FakeFaultOptions): void;
  clearFaults(): void;
  /** Drift: rewrites a resource's kernel state without touching its metadata. */
  editState(stack: string, name: string, edit: (state: unknown) => unknown): void;
  /** Removes a resource's metadata pin, leaving its other pins. */
  dropMeta(stack: string, name: string): void;
  /** Adds a resource directory with metadata that no stack may declare. */
  addOrphan(stack: string, name: string, kind: string, state: unknown): void;
  /** Adds a directory with pins but no metadata, as an interrupted create leaves. */
  addPartial(stack: string, name: string, state?: unknown): void;
  /**
   * After a `crash` fault: the machine as the next process finds it. Pinned
   * objects survive; objects only the dead process held are gone; the lock is free.
   */
  reboot(): FakeStore;
}

const clone = <T>(value: T): T => structuredClone(value);

class FakeKernel {
  dirs = new Map<string, FakeDir>();
  live = new Set<string>();
  log: string[] = [];
  faults: Fault[] = [];
  crashed = false;
  lockWaits = 0;
  nextObject = 1;
  private lockTails = new Map<string, Promise<void>>();

  constructor(readonly root: string, readonly kinds: string[]) {}

  newObject(name: string): string {
    const id = `${name}#${this.nextObject++}`;
    this.live.add(id);
    return id;
  }

  /** Applies a change unless the "process" already died. */
  mutate(change: () => void): void {
    if (!this.crashed) change();
  }

  /** Logs an operation, yields so concurrent callers can interleave, and fires faults. */
  async enter(op: FakeOp, name: string, label = `${op} ${name}`): Promise<void> {
    if (this.crashed) throw new Error(`fake kernel: process already killed (${label})`);
    this.log.push(label);
    await Promise.resolve();
    this.fire(op, name, "start");
  }

  fire(op: FakeOp, name: string, at: FakeFaultPoint): void {
    const i = this.faults.findIndex((f) => f.op === op && f.name === name && f.at === at);
    if (i < 0) return;
    const [fault] = this.faults.splice(i, 1);
    if (fault.crash) {
      this.crashed = true;
      this.log.push(`crash at ${at} of ${op} ${name}`);
    }
    throw new Error(fault.message);
  }

  async lock(dir: string): Promise<() => void> {
    const previous = this.lockTails.get(dir);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    this.lockTails.set(dir, (previous ?? Promise.resolve()).then(() => mine));
    if (previous) {
      this.lockWaits++;
      await previous;
    }
    this.log.push(`lock ${dir}`);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.log.push(`unlock ${dir}`);
      release();
    };
  }
}

function metaFor(kernel: FakeKernel, ref: ResourceRef, desired: unknown): ResourceMeta {
  return {
    kind: ref.kind,
    name: ref.name,
    specHash: hashJson(desired),
    objectHash: "",
    toolVersion: TOOL_VERSION,
    extra: { fakeRoot: kernel.root },
  };
}

function undo(
  kernel: FakeKernel,
  tx: Transaction,
  what: string,
  ref: ResourceRef,
  run: () => void,
) {
  tx.onRollback(`undo ${what} ${ref.kind}.${ref.name}`, async () => {
    await kernel.enter("undo", ref.name, `undo ${what} ${ref.name}`);
    kernel.mutate(run);
  });
}

function existing(kernel: FakeKernel, ref: ResourceRef): FakeDir {
  const dir = kernel.dirs.get(ref.dir);
  if (!dir) throw new Error(`fake kernel: ${ref.dir} does not exist`);
  return dir;
}

/**
 * The generic fake driver: `resolve` returns the spec, `observe` the stored
 * state, and create/update/delete change the fake kernel with undos.
 */
function fakeDriver(kernel: FakeKernel, kind: string): KindDriver {
  return {
    kind,
    async resolve(_ctx, resource) {
      await kernel.enter("resolve", resource.name);
      return clone(resource.spec);
    },
    async observe(_ctx, ref) {
      await kernel.enter("observe", ref.name);
      const dir = kernel.dirs.get(ref.dir);
      return dir ? { meta: clone(dir.meta), state: clone(dir.state) } : null;
    },
    async create(_ctx, ref, desired, tx) {
      await kernel.enter("create", ref.name);
      if (kernel.dirs.has(ref.dir)) throw new Error(`fake kernel: ${ref.dir} already exists`);
      const made: FakeDir = {
        meta: null,
        state: clone(desired),
        object: kernel.newObject(ref.name),
      };
      kernel.mutate(() => kernel.dirs.set(ref.dir, made));
      undo(kernel, tx, "create", ref, () => {
        kernel.dirs.delete(ref.dir);
        kernel.live.delete(made.object);
      });
      kernel.fire("create", ref.name, "midway");
      // Metadata last: a directory without it marks an unfinished create.
      kernel.mutate(() => (made.meta = metaFor(kernel, ref, desired)));
      kernel.fire("create", ref.name, "end");
    },
    async update(_ctx, ref, _observed, desired, _changes, tx) {
      await kernel.enter("update", ref.name);
      const dir = existing(kernel, ref);
      const before = clone(dir);
      kernel.mutate(() => (dir.state = clone(desired)));
      undo(kernel, tx, "update", ref, () => kernel.dirs.set(ref.dir, before));
      kernel.fire("update", ref.name, "midway");
      kernel.mutate(() => (dir.meta = metaFor(kernel, ref, desired)));
      kernel.fire("update", ref.name, "end");
    },
    async delete(_ctx, ref, _observed, tx) {
      await kernel.enter("delete", ref.name);
      const dir = existing(kernel, ref);
      // Unpinning is reversible while we still hold the object; freeing it is not.
      kernel.mutate(() => kernel.dirs.delete(ref.dir));
      undo(kernel, tx, "delete", ref, () => kernel.dirs.set(ref.dir, dir));
      kernel.fire("delete", ref.name, "midway");
      tx.onCommit(`free ${ref.kind}.${ref.name}`, async () => {
        await kernel.enter("commit", ref.name, `commit delete ${ref.name}`);
        kernel.mutate(() => kernel.live.delete(dir.object));
      });
      kernel.fire("delete", ref.name, "end");
    },
  };
}

/**
 * Creates an empty in-memory state store. Test code only.
 *
 * @example Planning against the fake
 * ```ts
 * const store = fakeStore();
 * store.addOrphan("demo", "old", "FakeThing", { size: 1 });
 * const p = await plan(new Stack("demo"), store); // one delete step
 * ```
 */
export function fakeStore(opts: FakeStoreOptions = {}): FakeStore {
  return wrap(new FakeKernel(opts.root ?? "/fake/sockform", opts.kinds ?? ["FakeThing"]));
}

function wrap(kernel: FakeKernel): FakeStore {
  const drivers = new Map<string, KindDriver>();
  const path = (stack: string, name: string) => `${kernel.root}/${stack}/${name}`;
  const store: FakeStore = {
    root: kernel.root,
    log: kernel.log,
    get lockWaits() {
      return kernel.lockWaits;
    },
    get crashed() {
      return kernel.crashed;
    },
    openStack: (stackName) => `${kernel.root}/${stackName}`,
    list: (stackDir) => listDirs(kernel, stackDir),
    lock: (stackDir) => kernel.lock(stackDir),
    driver(kind) {
      if (!kernel.kinds.includes(kind)) {
        throw new UserError(`no driver for resource kind "${kind}"`);
      }
      if (!drivers.has(kind)) drivers.set(kind, fakeDriver(kernel, kind));
      return drivers.get(kind)!;
    },
    async removeUnknown(dir) {
      await kernel.enter("delete", dir.slice(dir.lastIndexOf("/") + 1), `remove-unknown ${dir}`);
      const found = kernel.dirs.get(dir);
      kernel.mutate(() => {
        kernel.dirs.delete(dir);
        if (found) kernel.live.delete(found.object);
      });
    },
    snapshot: () => snapshot(kernel),
    read: (stack, name) => clone(kernel.dirs.get(path(stack, name))),
    names: (stack) => listDirs(kernel, `${kernel.root}/${stack}`).map((r) => r.name),
    failOn(op, name, o = {}) {
      const message = o.message ?? `injected ${op} failure on ${name}`;
      kernel.faults.push({ op, name, at: o.at ?? "start", message, crash: o.crash ?? false });
    },
    clearFaults: () => void (kernel.faults = []),
    editState(stack, name, edit) {
      const dir = kernel.dirs.get(path(stack, name));
      if (!dir) throw new Error(`fake kernel: no resource ${stack}/${name}`);
      dir.state = edit(clone(dir.state));
    },
    dropMeta(stack, name) {
      const dir = kernel.dirs.get(path(stack, name));
      if (!dir) throw new Error(`fake kernel: no resource ${stack}/${name}`);
      dir.meta = null;
    },
    addOrphan(stack, name, kind, state) {
      const meta = metaFor(kernel, { kind, name, dir: path(stack, name) }, state);
      kernel.dirs.set(path(stack, name), { meta, state, object: kernel.newObject(name) });
    },
    addPartial(stack, name, state = null) {
      kernel.dirs.set(path(stack, name), { meta: null, state, object: kernel.newObject(name) });
    },
    reboot: () => reboot(kernel),
  };
  return store;
}

function listDirs(kernel: FakeKernel, stackDir: string): StoredResource[] {
  const out: StoredResource[] = [];
  for (const [dir, found] of kernel.dirs) {
    const name = dir.slice(stackDir.length + 1);
    if (!dir.startsWith(`${stackDir}/`) || name.includes("/") || name.startsWith(".")) continue;
    out.push({ name, dir, meta: clone(found.meta) });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

function snapshot(kernel: FakeKernel): FakeSnapshot {
  const dirs: Record<string, FakeDir> = {};
  for (const key of [...kernel.dirs.keys()].sort()) dirs[key] = clone(kernel.dirs.get(key)!);
  return { dirs, live: [...kernel.live].sort() };
}

function reboot(old: FakeKernel): FakeStore {
  const kernel = new FakeKernel(old.root, old.kinds);
  kernel.nextObject = old.nextObject;
  for (const [dir, found] of old.dirs) {
    kernel.dirs.set(dir, clone(found));
    kernel.live.add(found.object);
  }
  return wrap(kernel);
}
