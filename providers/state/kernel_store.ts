/**
 * The live-kernel state store: resource directories on bpffs, a flock on the
 * stack directory, and the registered kind drivers.
 *
 * providers/state/ is the kernel-as-state half of the providers: what sockform
 * owns and reads back as its state. The bpffs state root (`bpffs.ts`), each
 * resource's pin directory (`pin_dir.ts`), its metadata pin (`meta.ts`), the
 * audit and repair of pins and their modes (`pin_audit.ts`, `pin_modes.ts`),
 * the ownership and name checks (`state_perms.ts`), and this store over them.
 * Reading and changing the rest of the system (netns, sysctls, sockets,
 * interfaces, cgroups, programs, feature probes) is providers/system/.
 *
 * @module
 */
import type { StateStore, StoredResource } from "../../engine/store.ts";
import type { KindDriver } from "../../engine/types.ts";
import { UserError } from "../../engine/errors.ts";
import { DEFAULT_STATE_ROOT, ensureStateRoot } from "./bpffs.ts";
import { readMeta } from "./meta.ts";
import { pathExists } from "./pin_dir.ts";
import { kernelDriver } from "../kinds.ts";
import { check, cstr, errno, libc, LOCK_EX, LOCK_NB, LOCK_UN, O } from "../libc/ffi.ts";
import { refuseSymlink } from "../libbpf/pins.ts";
import { setKernelChangeHook } from "../libbpf/change_hook.ts";
import { faultAtChange } from "../../engine/fault.ts";
import { assertPlainName, assertPrivateDir } from "./state_perms.ts";
import { auditPinDir } from "./pin_audit.ts";
import { repairPinModes } from "./pin_modes.ts";
import { lockHolder } from "./lock_owner.ts";

const EWOULDBLOCK = 11;

/**
 * Opens the state store at `root` (default /sys/fs/bpf/sockform, or
 * $SOCKFORM_STATE_ROOT).
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function demoDir(): string {
 *   const store = kernelStore("/sys/fs/bpf/sockform");
 *   return store.openStack("demo");
 * }
 * ```
 */
export function kernelStore(root?: string): StateStore {
  // Every pin, unpin, attach and swap libbpf makes is a fault point of the apply (engine/fault.ts).
  setKernelChangeHook(faultAtChange);
  const stateRoot = root ?? Deno.env.get("SOCKFORM_STATE_ROOT") ?? DEFAULT_STATE_ROOT;
  const openStack = (stackName: string, create = true): string => {
    assertPlainName(stackName, "stack name");
    ensureStateRoot(stateRoot, create);
    const dir = `${stateRoot}/${stackName}`;
    refuseSymlink(dir);
    if (create) Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (create || pathExists(dir)) assertPrivateDir(dir, "stack directory");
    return dir;
  };
  return {
    root: stateRoot,
    openStack,
    list: listResources,
    audit: auditPinDir,
    repair: repairPinModes,
    lock: (dir: string, timeoutMs?: number) =>
      lockDir(dir, timeoutMs, () => openStack(dir.slice(dir.lastIndexOf("/") + 1))),
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
  if (!pathExists(stackDir)) return []; // nothing applied yet: plan creates nothing
  const out: StoredResource[] = [];
  for (const entry of Deno.readDirSync(stackDir)) {
    if (!entry.isDirectory || entry.name.startsWith(".")) continue;
    const dir = `${stackDir}/${entry.name}`;
    assertPrivateDir(dir, "resource directory");
    out.push({ name: entry.name, dir, meta: readMeta(dir) });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** True when `fd` is still the directory at `path` (not one removed and re-created). */
function stillAtPath(fd: number, path: string): boolean {
  try {
    const held = Deno.statSync(`/proc/self/fd/${fd}`);
    const now = Deno.lstatSync(path);
    return held.ino === now.ino && held.dev === now.dev;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

function lockTimedOut(dir: string, timeoutMs: number): UserError {
  const holder = lockHolder(dir) ?? "another sockform process";
  const waited = timeoutMs > 0 ? ` after waiting ${timeoutMs / 1000}s` : "";
  return new UserError(
    `Error acquiring the state lock on ${dir}: held by ${holder}${waited} ` +
      `(--lock-timeout waits longer)`,
  );
}

/** `timeoutMs` undefined: wait for ever; 0: try once (Terraform's `-lock-timeout=0s`). */
async function flockWait(fd: number, dir: string, timeoutMs?: number): Promise<void> {
  let announced = false;
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  while (libc().flock(fd, LOCK_EX | LOCK_NB) < 0) {
    if (errno() !== EWOULDBLOCK) {
      libc().close(fd);
      throw new UserError(`cannot lock ${dir}: errno ${errno()}`);
    }
    if (Date.now() >= deadline) {
      libc().close(fd);
      throw lockTimedOut(dir, timeoutMs ?? 0);
    }
    if (!announced) console.error(`waiting for another sockform apply on ${dir} to finish…`);
    announced = true;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Locks the stack directory. A destroy removes that directory under the
 * lock, so a waiter may wake up holding a lock on a directory that is gone
 * while a newcomer locks a fresh one: the lock only counts once the locked
 * directory is still the one at the path, so re-create it and lock again.
 */
async function lockDir(
  dir: string,
  timeoutMs: number | undefined,
  recreate: () => void,
): Promise<() => void> {
  for (;;) {
    const flags = O.RDONLY | O.DIRECTORY | O.CLOEXEC;
    const fd = check(`open(${dir})`, libc().open(cstr(dir), flags, 0));
    await flockWait(fd, dir, timeoutMs);
    if (stillAtPath(fd, dir)) {
      return () => {
        libc().flock(fd, LOCK_UN);
        libc().close(fd);
      };
    }
    libc().close(fd); // closing drops the flock on the removed directory
    recreate();
  }
}
