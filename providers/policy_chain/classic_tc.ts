/**
 * Whether the running kernel can give PolicyChain's classic tc path what it
 * needs: the clsact qdisc (CONFIG_NET_SCH_INGRESS) and the `bpf` classifier
 * (CONFIG_NET_CLS_BPF). Either is built in (its functions are in vmlinux's
 * BTF), already loaded (its module BTF is under /sys/kernel/btf), or a module
 * the kernel can load on demand (listed in modules.dep). Without this check a
 * kernel lacking them fails at apply with tc's "Specified qdisc kind is
 * unknown"; with it, plan names the requirement.
 *
 * @module
 */
import { btfFunctionNames, VMLINUX_BTF } from "../system/btf.ts";
import { probe } from "../system/features.ts";

/** The two pieces: a function each has in BTF, and its module's name. */
const NEEDED = [
  { fn: "clsact_init", module: "sch_ingress" },
  { fn: "cls_bpf_classify", module: "cls_bpf" },
] as const;

/** Where to look; tests point these at temp files. */
export interface ClassicTcPaths {
  /** The kernel's BTF. */
  vmlinuxBtf: string;
  /** The directory of loaded modules' BTF. */
  moduleBtfDir: string;
  /** The running kernel's modules.dep. */
  modulesDep: string;
}

/** The running kernel's paths (a function: importing the library asks no permission). */
const systemPaths = (): ClassicTcPaths => ({
  vmlinuxBtf: VMLINUX_BTF,
  moduleBtfDir: "/sys/kernel/btf",
  modulesDep: `/lib/modules/${Deno.osRelease()}/modules.dep`,
});

const readText = (path: string) => {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
};

const builtIn = (path: string) => {
  try {
    return btfFunctionNames(Deno.readFileSync(path));
  } catch {
    return new Set<string>();
  }
};

/**
 * True when clsact and cls_bpf are built in, loaded or loadable.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function report(): void {
 *   if (!classicTcAvailable()) console.log("no clsact/cls_bpf: PolicyChain needs tcx here");
 * }
 * ```
 */
export function classicTcAvailable(paths: ClassicTcPaths = systemPaths()): boolean {
  const functions = builtIn(paths.vmlinuxBtf);
  const dep = readText(paths.modulesDep);
  return NEEDED.every(({ fn, module }) => {
    if (functions.has(fn)) return true;
    try {
      Deno.statSync(`${paths.moduleBtfDir}/${module}`);
      return true;
    } catch {
      return new RegExp(`(^|/)${module}\\.ko(\\.[a-z]+)?:`, "m").test(dep);
    }
  });
}

/** The feature plan requires before it chooses the classic tc path. */
export const CLASSIC_TC = probe(
  "the clsact qdisc and the bpf tc classifier (CONFIG_NET_SCH_INGRESS, CONFIG_NET_CLS_BPF)",
  "4.5",
  () => classicTcAvailable(),
);
