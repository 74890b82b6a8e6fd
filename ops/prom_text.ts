/**
 * Prometheus text exposition format 0.0.4: metric families with HELP and
 * TYPE lines, label values escaped as the format requires.
 *
 * @module
 */

/** The content type Prometheus expects for this format. */
export const PROM_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** One sample: its labels and value. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** One metric family: a name, its help text, its type and samples. */
export interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge";
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabel(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
}

function escapeHelp(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function sampleLine(name: string, s: Sample): string {
  const pairs = Object.entries(s.labels).map(([k, v]) => {
    if (!LABEL.test(k) || k.startsWith("__")) throw new Error(`bad label name ${k} on ${name}`);
    return `${k}="${escapeLabel(v)}"`;
  });
  const labels = pairs.length ? `{${pairs.join(",")}}` : "";
  return `${name}${labels} ${formatValue(s.value)}`;
}

/**
 * Renders families as exposition text. Families without samples are left
 * out; a counter's name must end in `_total`.
 *
 * @example Render one counter
 * ```ts
 * renderFamilies([{ name: "x_total", help: "Xs.", type: "counter", samples: [{ labels: {}, value: 1 }] }]);
 * // "# HELP x_total Xs.\n# TYPE x_total counter\nx_total 1\n"
 * ```
 */
export function renderFamilies(families: readonly Family[]): string {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const f of families) {
    if (!NAME.test(f.name)) throw new Error(`bad metric name ${f.name}`);
    if (f.type === "counter" && !f.name.endsWith("_total")) {
      throw new Error(`counter ${f.name} must end in _total`);
    }
    if (seen.has(f.name)) throw new Error(`metric family ${f.name} rendered twice`);
    seen.add(f.name);
    if (!f.samples.length) continue;
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) lines.push(sampleLine(f.name, s));
  }
  return lines.length ? lines.join("\n") + "\n" : "";
}
