/**
 * An in-memory kernel for fast engine tests ONLY. It models what the engine
 * relies on: resource directories with metadata and state, live kernel objects
 * that pins keep alive, an in-process writer lock, and a generic driver whose
 * every change registers a real undo. Fault injection and tamper helpers
 * simulate failing drivers, drift, interrupted applies and `kill -9`.
 *
 * @module
 */
import type { StateStore, StoredResource } from "../store.ts";
import type { KindDriver } from "../types.ts";
import { UserError } from "../errors.ts";
import {
  clone,
  type FakeDir,
  fakeDriver,
  type FakeFaultOptions,
  FakeKernel,
  type FakeOp,
  metaFor,
} from "./fake_kernel.ts";

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

/**
 * Creates an empty in-memory state store. Test code only.
 *
 * @example Planning against the fake
 * ```ts
 * import { plan, Stack } from "../../mod.ts";
 *
 * const store = fakeStore();
 * store.addOrphan("demo", "old", "FakeThing", { size: 1 });
 * const p = await plan(new Stack("demo"), store); // one delete step
 * ```
 */
export function fakeStore(opts: FakeStoreOptions = {}): FakeStore {
  return wrap(new FakeKernel(opts.root ?? "/fake/sockform", opts.kinds ?? ["FakeThing"]));
}

function wrap(kernel: FakeKernel): FakeStore {
  return {
    ...storeOps(kernel),
    ...faultOps(kernel),
    ...tamperOps(kernel),
    // Getters here, not in the parts: spreading would freeze their values.
    get lockWaits() {
      return kernel.lockWaits;
    },
    get crashed() {
      return kernel.crashed;
    },
  };
}

/** The `StateStore` half, plus read-only inspection. */
function storeOps(kernel: FakeKernel) {
  const drivers = new Map<string, KindDriver>();
  return {
    root: kernel.root,
    log: kernel.log,
    openStack: (stackName: string) => `${kernel.root}/${stackName}`,
    list: (stackDir: string) => listDirs(kernel, stackDir),
    lock: (stackDir: string) => kernel.lock(stackDir),
    driver(kind: string): KindDriver {
      if (!kernel.kinds.includes(kind)) {
        throw new UserError(`no driver for resource kind "${kind}"`);
      }
      if (!drivers.has(kind)) drivers.set(kind, fakeDriver(kernel, kind));
      return drivers.get(kind)!;
    },
    removeStackIfEmpty() {
      // The fake keeps no directory for a stack, only its resources.
    },
    async removeUnknown(dir: string) {
      await kernel.enter("delete", dir.slice(dir.lastIndexOf("/") + 1), `remove-unknown ${dir}`);
      const found = kernel.dirs.get(dir);
      kernel.mutate(() => {
        kernel.dirs.delete(dir);
        if (found) kernel.live.delete(found.object);
      });
    },
    snapshot: () => snapshot(kernel),
    read: (stack: string, name: string) =>
      clone(kernel.dirs.get(`${kernel.root}/${stack}/${name}`)),
    names: (stack: string) => listDirs(kernel, `${kernel.root}/${stack}`).map((r) => r.name),
  };
}

function faultOps(kernel: FakeKernel) {
  return {
    failOn(op: FakeOp, name: string, o: FakeFaultOptions = {}) {
      const message = o.message ?? `injected ${op} failure on ${name}`;
      kernel.faults.push({ op, name, at: o.at ?? "start", message, crash: o.crash ?? false });
    },
    clearFaults: () => void (kernel.faults = []),
    reboot: () => reboot(kernel),
  };
}

/** Changes made behind sockform's back: drift and leftovers. They bypass faults and crashes. */
function tamperOps(kernel: FakeKernel) {
  const path = (stack: string, name: string) => `${kernel.root}/${stack}/${name}`;
  const found = (stack: string, name: string) => {
    const dir = kernel.dirs.get(path(stack, name));
    if (!dir) throw new Error(`fake kernel: no resource ${stack}/${name}`);
    return dir;
  };
  return {
    editState(stack: string, name: string, edit: (state: unknown) => unknown) {
      const dir = found(stack, name);
      dir.state = edit(clone(dir.state));
    },
    dropMeta: (stack: string, name: string) => void (found(stack, name).meta = null),
    addOrphan(stack: string, name: string, kind: string, state: unknown) {
      const meta = metaFor(kernel, { kind, name, dir: path(stack, name) }, state);
      kernel.dirs.set(path(stack, name), { meta, state, object: kernel.newObject(name) });
    },
    addPartial(stack: string, name: string, state: unknown = null) {
      kernel.dirs.set(path(stack, name), { meta: null, state, object: kernel.newObject(name) });
    },
  };
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
