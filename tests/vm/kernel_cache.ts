/**
 * Fetches a stock Debian kernel package through apt (with a sources list of its own,
 * derived from this machine's Debian sources) and caches the kernel image plus the
 * few modules a VM boot needs, decompressed and in load order.
 *
 * Cache layout, under `<project>/.cache/vm/<suite>/` (or `$SOCKFORM_VM_CACHE/<suite>/`):
 * `apt/` (sources, lists, pkgcache), `archives/*.deb`, `package.json` (the download key),
 * `kernel/` (vmlinuz, modules/*.ko, kernel.json). A second run finds `package.json` and the
 * .deb and touches no network; delete the suite directory to fetch the newest kernel again.
 *
 * @module
 */
import { exec, execBytes } from "./exec.ts";
import { resolveLoadOrder } from "./modules.ts";
import { readHostSources } from "./apt_sources.ts";
import { localKernel, mptcpNextKernelPath } from "./local_kernel.ts";

/**
 * The kernel matrix: suite → kernel series. Debian suites come from apt; `mptcp-next` is the
 * local test kernel with the MPTCP BPF scheduler (see local_kernel.ts).
 */
export const SUITES = {
  trixie: "6.12",
  bookworm: "6.1",
  bullseye: "5.10",
  "mptcp-next": "7.3",
} as const;

/** A suite the harness knows how to boot. */
export type Suite = keyof typeof SUITES;

/**
 * Modules every boot loads: the virtio PCI transport (a module on 6.1), the 9p root (netfs,
 * 9pnet, 9pnet_virtio, 9p), the overlay that makes it writable, veth and qdiscs for network
 * labs, clsact (sch_ingress) and cls_bpf for PolicyChain's classic tc path, and sock_diag for
 * `ss`. Built-in ones are skipped per kernel.
 */
export const DEFAULT_MODULES: readonly string[] = [
  "virtio_pci",
  "9pnet_virtio",
  "9p",
  "overlay",
  "veth",
  "sch_tbf",
  "sch_netem",
  "sch_ingress",
  "cls_bpf",
  "inet_diag",
  "tcp_diag",
  "mptcp_diag",
];

/** What a cached kernel offers a boot. */
export interface KernelArtifacts {
  suite: Suite;
  /** Kernel series, e.g. `6.12`. */
  series: string;
  /** `uname -r` of the kernel, e.g. `6.12.117+deb13-amd64`. */
  release: string;
  /** Debian binary package the kernel came from. */
  packageName: string;
  /** Absolute path of the kernel image. */
  vmlinuz: string;
  /** Absolute paths of decompressed modules, dependencies first. */
  modules: string[];
}

/** Options for {@linkcode ensureKernel}. */
export interface KernelOptions {
  suite: Suite;
  /** Module names to load at boot (defaults to {@linkcode DEFAULT_MODULES}). */
  modules?: readonly string[];
  /** Cache root; defaults to `$SOCKFORM_VM_CACHE` or `<project>/.cache/vm`. */
  cacheRoot?: string;
  /** Progress messages go here (default: stderr). */
  log?: (line: string) => void;
}

interface PackageKey {
  packageName: string;
  deb: string;
}

interface KernelManifest {
  release: string;
  packageName: string;
  requested: string[];
  order: string[];
}

/** The default cache root: `$SOCKFORM_VM_CACHE` or `<project>/.cache/vm`. */
export function defaultCacheRoot(): string {
  return Deno.env.get("SOCKFORM_VM_CACHE") ??
    new URL("../../.cache/vm", import.meta.url).pathname;
}

/**
 * Rewrites a deb822 sources file for another suite: each `Suites:` entry keeps its suffix
 * (`bookworm-security` → `trixie-security`); URIs, Components and Signed-By are kept.
 * Comments and `deb-src` stanzas are dropped.
 *
 * @example Point bookworm sources at trixie
 * ```ts
 * const text = deriveSources(
 *   "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n",
 *   "trixie",
 * );
 * // text contains "Suites: trixie"
 * ```
 */
export function deriveSources(hostSources: string, suite: string): string {
  const stanzas = hostSources.split(/\n\s*\n/).map(parseStanza);
  const out: string[] = [];
  for (const fields of stanzas) {
    const types = (fields.get("types") ?? "").split(/\s+/);
    const suites = (fields.get("suites") ?? "").split(/\s+/).filter(Boolean);
    if (!types.includes("deb") || !fields.get("uris") || suites.length === 0) continue;
    const lines = [
      "Types: deb",
      `URIs: ${fields.get("uris")}`,
      `Suites: ${suites.map((s) => suite + s.replace(/^[a-z]+/, "")).join(" ")}`,
      `Components: ${fields.get("components") ?? "main"}`,
    ];
    const signedBy = fields.get("signed-by");
    if (signedBy) lines.push(`Signed-By: ${signedBy}`);
    out.push(lines.join("\n"));
  }
  if (out.length === 0) throw new Error("no usable `Types: deb` stanza in the host's sources");
  return out.join("\n\n") + "\n";
}

function parseStanza(stanza: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of stanza.split("\n")) {
    const m = line.match(/^([A-Za-z-]+):\s*(.*)$/);
    if (m) fields.set(m[1].toLowerCase(), m[2].trim());
  }
  return fields;
}

/** The apt options that confine apt to a suite's own cache directory. */
function aptOptions(dir: string): string[] {
  const opts = {
    "Dir::Etc::SourceList": `${dir}/apt/debian.sources`,
    "Dir::Etc::SourceParts": "/dev/null",
    "Dir::State::Lists": `${dir}/apt/lists`,
    "Dir::Cache": `${dir}/apt/cache`,
    "Dir::Cache::Archives": `${dir}/archives`,
    // The archives live under the project tree, which the _apt user cannot write.
    "APT::Sandbox::User": "root",
  };
  return Object.entries(opts).flatMap(([k, v]) => ["-o", `${k}=${v}`]);
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch {
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Downloads the suite's current `linux-image-<ver>-amd64` unless it is already cached. */
async function ensurePackage(dir: string, suite: Suite, log: (s: string) => void) {
  const key = await readJson<PackageKey>(`${dir}/package.json`);
  if (key && await exists(key.deb)) return key;
  const hostSources = await readHostSources();
  for (const sub of ["apt/lists/partial", "apt/cache", "archives/partial"]) {
    await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
  }
  await Deno.writeTextFile(`${dir}/apt/debian.sources`, deriveSources(hostSources, suite));
  const opts = aptOptions(dir);
  log(`vm: apt-get update for ${suite}`);
  await exec("apt-get", [...opts, "-qq", "update"]);
  const depends = await exec("apt-cache", [...opts, "depends", "linux-image-amd64"]);
  const packageName = depends.match(/Depends:\s*(linux-image-\S+-amd64)\b/)?.[1];
  if (!packageName) {
    throw new Error(`no linux-image-<ver>-amd64 behind linux-image-amd64 in ${suite}`);
  }
  log(`vm: downloading ${packageName}`);
  await exec("apt-get", [...opts, "-qq", "download", packageName], { cwd: `${dir}/archives` });
  const debs = [...Deno.readDirSync(`${dir}/archives`)]
    .filter((e) => e.name.startsWith(`${packageName}_`) && e.name.endsWith(".deb"));
  if (debs.length !== 1) throw new Error(`expected one ${packageName} .deb, found ${debs.length}`);
  const fresh = { packageName, deb: `${dir}/archives/${debs[0].name}` };
  await Deno.writeTextFile(`${dir}/package.json`, JSON.stringify(fresh, null, 2) + "\n");
  return fresh;
}

/**
 * Makes sure a suite's kernel and the requested modules are in the cache and returns them.
 * Downloads only when the suite has no cached package; re-extracts from the cached .deb
 * only when the requested module set changed.
 *
 * @example Get the trixie kernel
 * ```ts
 * const k = await ensureKernel({ suite: "trixie" });
 * console.log(k.release, k.vmlinuz, k.modules.length);
 * ```
 */
export async function ensureKernel(opts: KernelOptions): Promise<KernelArtifacts> {
  if (opts.suite === "mptcp-next") {
    return await localKernel(opts.suite, SUITES[opts.suite], mptcpNextKernelPath());
  }
  const log = opts.log ?? ((s: string) => console.error(s));
  const dir = `${opts.cacheRoot ?? defaultCacheRoot()}/${opts.suite}`;
  // Load order follows the request (the transport first), so only the cache key is sorted.
  const requested = [...(opts.modules ?? DEFAULT_MODULES)];
  await Deno.mkdir(dir, { recursive: true });
  // Parallel runs share the cache: one fills it, the others wait and then reuse it.
  using lock = await Deno.open(`${dir}/.lock`, { create: true, write: true });
  await lock.lock(true);
  const pkg = await ensurePackage(dir, opts.suite, log);
  const kdir = `${dir}/kernel`;
  let manifest = await readJson<KernelManifest>(`${kdir}/kernel.json`);
  const fresh = manifest?.packageName === pkg.packageName &&
    [...manifest.requested].sort().join() === [...requested].sort().join() &&
    await exists(`${kdir}/vmlinuz`);
  if (!fresh) manifest = await extractKernel(pkg, kdir, requested, log);
  return {
    suite: opts.suite,
    series: SUITES[opts.suite],
    release: manifest!.release,
    packageName: pkg.packageName,
    vmlinuz: `${kdir}/vmlinuz`,
    modules: manifest!.order.map((name) => `${kdir}/modules/${name}.ko`),
  };
}

/** Unpacks the .deb into a scratch directory and keeps vmlinuz plus the needed modules. */
async function extractKernel(
  pkg: PackageKey,
  kdir: string,
  requested: string[],
  log: (s: string) => void,
): Promise<KernelManifest> {
  log(`vm: extracting ${pkg.packageName}`);
  const scratch = await Deno.makeTempDir({ prefix: "sf-vm-kernel-" });
  try {
    await exec("dpkg-deb", ["-x", pkg.deb, scratch]);
    const modRoot = await findModuleRoot(scratch);
    const release = modRoot.split("/").pop()!;
    await Deno.remove(kdir, { recursive: true }).catch(() => {});
    await Deno.mkdir(`${kdir}/modules`, { recursive: true });
    await Deno.copyFile(`${scratch}/boot/vmlinuz-${release}`, `${kdir}/vmlinuz`);
    const order = await resolveLoadOrder(requested, modRoot, async (name, file) => {
      const out = `${kdir}/modules/${name}.ko`;
      const bytes = file.endsWith(".xz") ? await execBytes("xz", ["-dc", file]) : undefined;
      if (bytes) await Deno.writeFile(out, bytes);
      else await Deno.copyFile(file, out);
      return out;
    });
    const manifest = { release, packageName: pkg.packageName, requested, order };
    await Deno.writeTextFile(`${kdir}/kernel.json`, JSON.stringify(manifest, null, 2) + "\n");
    return manifest;
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
}

/** `lib/modules/<release>` or, on merged-/usr packages, `usr/lib/modules/<release>`. */
async function findModuleRoot(root: string): Promise<string> {
  for (const base of [`${root}/usr/lib/modules`, `${root}/lib/modules`]) {
    if (!await exists(base)) continue;
    const releases = [...Deno.readDirSync(base)].filter((e) => e.isDirectory);
    if (releases.length === 1) return `${base}/${releases[0].name}`;
  }
  throw new Error(`no single lib/modules/<release> directory in the kernel package`);
}
