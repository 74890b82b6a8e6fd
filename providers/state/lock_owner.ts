/**
 * Who holds the flock on a stack directory, from /proc/locks: for the
 * "Error acquiring the state lock" message (Terraform names the holder too).
 *
 * @module
 */

function devParts(dev: number): [number, number] {
  const d = BigInt(dev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  return [major, minor];
}

function describePid(pid: number): string {
  try {
    const cmd = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").join(" ").trim();
    return cmd ? `pid ${pid} (${cmd})` : `pid ${pid}`;
  } catch {
    return `pid ${pid}`;
  }
}

/**
 * The process holding a flock on `path`, as `pid N (command line)`, or
 * undefined when /proc/locks does not show one (released meanwhile, or
 * held from another pid namespace).
 *
 * @example Name the holder
 * ```ts
 * const who = lockHolder("/sys/fs/bpf/sockform/edge") ?? "unknown";
 * ```
 */
export function lockHolder(path: string): string | undefined {
  let st: Deno.FileInfo, locks: string;
  try {
    st = Deno.statSync(path);
    locks = Deno.readTextFileSync("/proc/locks");
  } catch {
    return undefined;
  }
  const [major, minor] = devParts(st.dev);
  for (const line of locks.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[1] !== "FLOCK" || f.length < 6) continue; // "->" lines are waiters
    const [maj, min, ino] = f[5].split(":");
    if (Number(ino) !== st.ino) continue;
    if (parseInt(maj, 16) !== major || parseInt(min, 16) !== minor) continue;
    return describePid(Number(f[4]));
  }
  return undefined;
}
