/**
 * The in-memory kernel behind engine/testing/fake.ts, and its generic kind driver.
 * Test code only: it models resource directories, the objects their pins keep
 * alive, an in-process lock, and fault points inside every driver call.
 *
 * @module
 */
import type { KindDriver, KindMeta, ResourceRef, Transaction } from "../types.ts";
import { hashJson } from "../hash.ts";
import { TOOL_VERSION } from "../version.ts";

/** One resource directory: its metadata pin, its state, the kernel object its pins hold. */
export interface FakeDir {
  meta: KindMeta<unknown> | null;
  state: unknown;
  object: string;
}

/** The operations fault injection can target (`delete` also covers `removeUnknown`). */
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

/** A deep copy, so callers never share objects with the fake kernel. */
export const clone = <T>(value: T): T => structuredClone(value);

/**
 * The fake kernel's memory. Drivers change it only through `mutate`, so a
 * simulated crash can stop every later change (including undos).
 *
 * @example
 * ```ts
 * const kernel = new FakeKernel("/fake/sockform", ["FakeThing"]);
 * const driver = fakeDriver(kernel, "FakeThing");
 * ```
 */
export class FakeKernel {
  dirs = new Map<string, FakeDir>();
  live = new Set<string>();
  log: string[] = [];
  faults: Fault[] = [];
  crashed = false;
  lockWaits = 0;
  nextObject = 1;
  private lockTails = new Map<string, Promise<void>>();

  constructor(readonly root: string, readonly kinds: string[]) {}

  /** A new live kernel object (what a pinned map, program or link stands for). */
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

  /** Throws (once) if a fault is armed for this op, resource and point. */
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

  /** An exclusive lock per directory; later callers queue in call order. */
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

/**
 * The metadata the fake writes: the spec hash is over the desired state, which
 * for the fake driver is the spec itself, so it equals the planner's hash.
 *
 * @example
 * ```ts
 * const kernel = new FakeKernel("/fake", ["FakeThing"]);
 * const meta = metaFor(kernel, { kind: "FakeThing", name: "a", dir: "/fake/demo/a" }, { size: 1 });
 * ```
 */
export function metaFor(kernel: FakeKernel, ref: ResourceRef, desired: unknown): KindMeta<unknown> {
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

async function create(kernel: FakeKernel, ref: ResourceRef, desired: unknown, tx: Transaction) {
  await kernel.enter("create", ref.name);
  if (kernel.dirs.has(ref.dir)) throw new Error(`fake kernel: ${ref.dir} already exists`);
  const made: FakeDir = { meta: null, state: clone(desired), object: kernel.newObject(ref.name) };
  kernel.mutate(() => kernel.dirs.set(ref.dir, made));
  undo(kernel, tx, "create", ref, () => {
    kernel.dirs.delete(ref.dir);
    kernel.live.delete(made.object);
  });
  kernel.fire("create", ref.name, "midway");
  // Metadata last: a directory without it marks an unfinished create.
  kernel.mutate(() => (made.meta = metaFor(kernel, ref, desired)));
  kernel.fire("create", ref.name, "end");
}

async function update(kernel: FakeKernel, ref: ResourceRef, desired: unknown, tx: Transaction) {
  await kernel.enter("update", ref.name);
  const dir = existing(kernel, ref);
  const before = clone(dir);
  kernel.mutate(() => (dir.state = clone(desired)));
  undo(kernel, tx, "update", ref, () => kernel.dirs.set(ref.dir, before));
  kernel.fire("update", ref.name, "midway");
  kernel.mutate(() => (dir.meta = metaFor(kernel, ref, desired)));
  kernel.fire("update", ref.name, "end");
}

async function remove(kernel: FakeKernel, ref: ResourceRef, tx: Transaction) {
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
}

/**
 * The generic fake driver: `resolve` returns the spec, `observe` the stored
 * state, and create/update/delete change the fake kernel, each registering the
 * undo that restores it; delete frees its object only on commit.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { DriverContext, ResourceRef } from "../types.ts";
 * import { Journal } from "../apply.ts";
 *
 * async function create(ctx: DriverContext, ref: ResourceRef): Promise<void> {
 *   const driver = fakeDriver(new FakeKernel("/fake", ["FakeThing"]), "FakeThing");
 *   await driver.create({ ctx, ref, desired: { size: 1 }, tx: new Journal() });
 * }
 * ```
 */
export function fakeDriver(kernel: FakeKernel, kind: string): KindDriver {
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
    create: ({ ref, desired, tx }) => create(kernel, ref, desired, tx),
    update: ({ ref, desired, tx }) => update(kernel, ref, desired, tx),
    delete: ({ ref, tx }) => remove(kernel, ref, tx),
  };
}
