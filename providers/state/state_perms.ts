/**
 * Who may write the state: the state root, each stack directory and each
 * resource directory must belong to root (or to the user running sockform)
 * and be writable by nobody else, and no directory on the way to them may be
 * a symbolic link. Otherwise another user could plant, rename or hide state
 * (a hidden program keeps steering traffic while `destroy` reports success).
 *
 * @module
 */
import { UserError } from "../../engine/errors.ts";

/** Write bits for group and others. */
const GROUP_OTHER_WRITE = 0o022;

function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8)}`;
}

/**
 * Throws when a component of `path` (the path itself included) is a symbolic
 * link. Components that do not exist yet are fine: sockform creates them.
 *
 * @example Before creating a state root
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function checkRoot(): void {
 *   refuseSymlinkedPath("/sys/fs/bpf/sockform"); // throws if /sys/fs/bpf is a link
 * }
 * ```
 */
export function refuseSymlinkedPath(path: string): void {
  const parts = path.split("/").filter(Boolean);
  let at = "";
  for (const part of parts) {
    at += `/${part}`;
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(at);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    if (info.isSymlink) {
      throw new UserError(
        `${path} is reached through the symbolic link ${at}; sockform never follows links ` +
          `(pass the real path: ${Deno.realPathSync(at)}${path.slice(at.length)})`,
      );
    }
  }
}

/**
 * Throws a one-line `UserError` saying how to fix it when the directory at
 * `path` is not a directory, is owned by another user than root (or the
 * caller), or is writable by group or others.
 *
 * @example Checking a stack directory
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function checkStackDir(): void {
 *   assertPrivateDir("/sys/fs/bpf/sockform/edge", "stack directory");
 * }
 * ```
 */
export function assertPrivateDir(path: string, what: string): void {
  const info = Deno.lstatSync(path);
  if (!info.isDirectory) {
    throw new UserError(`${what} ${path} is not a directory; remove it (rm ${path})`);
  }
  const uid = info.uid ?? 0;
  if (uid !== 0 && uid !== Deno.uid()) {
    throw new UserError(
      `${what} ${path} is owned by uid ${uid}, not root: another user could change it; ` +
        `check its contents, then chown -R root:root ${path}`,
    );
  }
  const mode = info.mode ?? 0;
  if (mode & GROUP_OTHER_WRITE) {
    throw new UserError(
      `${what} ${path} has mode ${octal(mode)}, writable by other users; ` +
        `check its contents, then chmod 0700 ${path}`,
    );
  }
}

/**
 * Throws unless `name` is one plain path component (no `/`, not `.` or `..`,
 * no leading dot): stack and resource names become directory names, and a
 * stack object built without the `Stack` constructor is not validated.
 *
 * @example
 * ```ts
 * assertPlainName("edge", "stack name"); // returns
 * try {
 *   assertPlainName("../../x", "stack name");
 * } catch (e) {
 *   console.log((e as Error).message); // 'stack name "../../x" is not a plain directory name (…)'
 * }
 * ```
 */
export function assertPlainName(name: unknown, what: string): void {
  if (typeof name === "string" && /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(name)) return;
  throw new UserError(
    `${what} ${JSON.stringify(name)} is not a plain directory name (letters, digits, _ . -)`,
  );
}
