/**
 * The owner and mode sockform gives a resource directory (0700) and its pins
 * (0600). Anything else is drift: a pin made world-writable lets any user
 * edit a binding or plant metadata. Apply repairs it in place, with undo.
 *
 * @module
 */
import type { Change, Transaction } from "../../engine/types.ts";

const DIR_MODE = 0o700;
const PIN_MODE = 0o600;

interface Wrong {
  path: string;
  /** What the plan calls it: `dir.mode` for the directory, `<pin>.mode` for a pin. */
  label: string;
  want: number;
  mode: number;
  uid: number;
  gid: number;
}

function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}

function check(path: string, label: string, want: number): Wrong | null {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    return null; // gone: the kind's own observe reports missing pins
  }
  const mode = (info.mode ?? 0) & 0o7777;
  const uid = info.uid ?? 0;
  if (mode === want && uid === Deno.uid()) return null;
  return { path, label, want, mode, uid, gid: info.gid ?? 0 };
}

function wrongModes(dir: string): Wrong[] {
  const out = [check(dir, "dir.mode", DIR_MODE)];
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return [];
  }
  for (const e of entries) {
    if (e.isDirectory) continue; // not a pin
    out.push(check(`${dir}/${e.name}`, `${e.name}.mode`, PIN_MODE));
  }
  return out.filter((w): w is Wrong => w !== null);
}

/**
 * Owner or mode differences in a resource directory, as hitless drift.
 *
 * @example
 * ```ts
 * modeDrift("/sys/fs/bpf/sockform/edge/web"); // [{ path: "bindings.mode", before: "0666", … }]
 * ```
 */
export function modeDrift(dir: string): Change[] {
  return wrongModes(dir).map((w) => {
    const owner = w.uid === Deno.uid() ? "" : `, owner uid ${w.uid}`;
    return {
      path: w.label,
      before: `${octal(w.mode)} uid ${w.uid}`,
      after: `${octal(w.want)} uid ${Deno.uid()}`,
      reason: `${w.path} has mode ${octal(w.mode)}${owner}; sockform keeps it ${
        octal(w.want)
      }, owned by uid ${Deno.uid()}`,
      hitless: true,
    };
  });
}

/**
 * Gives the directory and its pins back sockform's owner and modes; each
 * repair registers an undo that restores what was there.
 *
 * @example After a kind's update
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { ResourceRef, Transaction } from "../../engine/types.ts";
 *
 * function afterUpdate(ref: ResourceRef, tx: Transaction): void {
 *   repairPinModes(ref.dir, tx);
 * }
 * ```
 */
export function repairPinModes(dir: string, tx: Transaction): void {
  for (const w of wrongModes(dir)) {
    tx.onRollback(`restore mode of ${w.path}`, () => {
      Deno.chownSync(w.path, w.uid, w.gid);
      Deno.chmodSync(w.path, w.mode);
    });
    Deno.chownSync(w.path, Deno.uid(), Deno.gid());
    Deno.chmodSync(w.path, w.want);
  }
}
