/**
 * The live-kernel state store: resource directories on bpffs, a flock on the
 * stack directory, and the registered kind drivers.
 *
 * @module
 */
import type { StateStore, StoredResource } from "../engine/store.ts";
import type { KindDriver } from "../engine/types.ts";
import { UserError } from "../engine/errors.ts";
import { DEFAULT_STATE_ROOT, ensureStateRoot } from "./bpffs.ts";
import { readMeta } from "./meta.ts";
import { kernelDriver } from "./drivers.ts";
import { check, cstr, errno, libc, LOCK_EX, LOCK_NB, LOCK_UN, O } from "./libc/ffi.ts";
import { refuseSymlink } from "./libbpf/pins.ts";
import "./all_drivers.ts";

const EWOULDBLOCK = 11;

/**
 * Opens the state store at `root` (default /sys/fs/bpf/sockform, or
 * $SOCKFORM_STATE_ROOT).
 *
 * @example
 * ```ts
 * const store = kernelStore("/sys/fs/bpf/sockform");
 * const dir = store.openStack("demo");
 * ```
 */
export function kernelStore(root?: string): StateStore {
  const stateRoot = root ?? Deno.env.get("SOCKFORM_STATE_ROOT") ?? DEFAULT_STATE_ROOT;
  return {
    root: stateRoot,
    openStack(stackName: string): string {
      ensureStateRoot(stateRoot);
      const dir = `${stateRoot}/${stackName}`;
      refuseSymlink(dir);
      Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
      return dir;
    },
    list: listResources,
    lock: lockDir,
    driver(kind: string): KindDriver {
      const driver = kernelDriver(kind);
      if (!driver) throw new UserError(`no driver for resource kind "${kind}"`);
      return driver;
    },
    removeStackIfEmpty(stackDir: string): void {
      try {
        Deno.removeSync(stackDir); // fails when not empty: something foreign is there
      } catch { /* leave it */ }
    },
    removeUnknown(dir: string): Promise<void> {
      // Pins alone keep nothing attached once unpinned; removing them frees the objects.
      Deno.removeSync(dir, { recursive: true });
      return Promise.resolve();
    },
  };
}

function listResources(stackDir: string): StoredResource[] {
  const out: StoredResource[] = [];
  for (const entry of Deno.readDirSync(stackDir)) {
    if (!entry.isDirectory || entry.name.startsWith(".")) continue;
    const dir = `${stackDir}/${entry.name}`;
    out.push({ name: entry.name, dir, meta: readMeta(dir) });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

async function lockDir(dir: string): Promise<() => void> {
  const fd = check(`open(${dir})`, libc().open(cstr(dir), O.RDONLY | O.DIRECTORY | O.CLOEXEC, 0));
  let announced = false;
  while (libc().flock(fd, LOCK_EX | LOCK_NB) < 0) {
    if (errno() !== EWOULDBLOCK) {
      libc().close(fd);
      throw new UserError(`cannot lock ${dir}: errno ${errno()}`);
    }
    if (!announced) console.error(`waiting for another sockform apply on ${dir} to finish…`);
    announced = true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return () => {
    libc().flock(fd, LOCK_UN);
    libc().close(fd);
  };
}
