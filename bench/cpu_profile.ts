/**
 * Reading a V8 `.cpuprofile` (what `deno run --cpu-prof` writes) into "where
 * the time goes": self time per function, largest first.
 *
 * @module
 */

import { programCommand } from "../providers/system/programs.ts";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time of one function. */
export interface Hotspot {
  /** `name (file:line)`, with the path shortened to the file name. */
  where: string;
  ms: number;
}

function label(frame: CallFrame): string {
  const file = frame.url.split("/").pop() || "(native)";
  const name = frame.functionName || "(anonymous)";
  return frame.url ? `${name} (${file}:${frame.lineNumber + 1})` : name;
}

/**
 * Sums sampled self time per function and returns the `top` largest.
 *
 * @example
 * ```ts
 * const hot = hotspots(JSON.parse(Deno.readTextFileSync("CPU.cpuprofile")), 8);
 * for (const h of hot) console.log(h.ms.toFixed(0), h.where);
 * ```
 */
export function hotspots(profile: CpuProfile, top: number): Hotspot[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const micros = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const where = label(byId.get(id)!);
    micros.set(where, (micros.get(where) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return [...micros].map(([where, us]) => ({ where, ms: us / 1000 }))
    .sort((a, b) => b.ms - a.ms).slice(0, top);
}

/**
 * Runs `argv` (a `deno run …` command line) once more with `--cpu-prof`
 * inserted after `run`, and returns its hotspots.
 *
 * @example
 * ```ts
 * const hot = await profileDenoRun([Deno.execPath(), "run", "-A", "main.ts", "validate"], {}, 8);
 * ```
 */
export async function profileDenoRun(
  argv: readonly string[],
  opts: { cwd?: string; env?: Record<string, string> },
  top: number,
): Promise<Hotspot[]> {
  const dir = await Deno.makeTempDir({ prefix: "sf-bench-prof-" });
  try {
    const at = argv.indexOf("run") + 1;
    const args = [...argv.slice(1, at), "--cpu-prof", `--cpu-prof-dir=${dir}`, ...argv.slice(at)];
    const out = await programCommand([argv[0], ...args], {
      ...opts,
      stdout: "null",
      stderr: "piped",
    })
      .output();
    if (!out.success) {
      throw new Error(`profiled run failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    const [file] = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".cpuprofile"));
    if (!file) throw new Error("--cpu-prof wrote no profile");
    return hotspots(JSON.parse(await Deno.readTextFile(`${dir}/${file.name}`)), top);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
