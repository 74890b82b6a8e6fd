/**
 * A dependency-free SVG line chart for benchmark output: a few series over a
 * shared x axis, with axes, gridlines, labels and a legend.
 *
 * @module
 */

/** One line of the chart. */
export interface Series {
  name: string;
  /** Any SVG colour. */
  color: string;
  points: readonly (readonly [number, number])[];
  dashed?: boolean;
}

/** What to draw. */
export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  width?: number;
  height?: number;
  /** Horizontal reference lines, e.g. a path's shaped rate. */
  marks?: readonly { y: number; label: string }[];
}

const M = { left: 64, right: 180, top: 44, bottom: 52 };

function escapeXml(text: string): string {
  return text.replace(
    /[<>&"]/g,
    (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]!,
  );
}

/** A "nice" axis maximum and step: 1, 2 or 5 times a power of ten. */
function niceScale(max: number): { top: number; step: number } {
  const raw = Math.max(max, 1e-9) / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  return { top: Math.ceil(max / step) * step, step };
}

function ticks(top: number, step: number): number[] {
  const out: number[] = [];
  for (let v = 0; v <= top + step / 2; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

interface Frame {
  width: number;
  height: number;
  plotW: number;
  plotH: number;
  px: (v: number) => number;
  py: (v: number) => number;
}

function frameOf(
  chart: LineChart,
): Frame & { x: ReturnType<typeof niceScale>; y: ReturnType<typeof niceScale> } {
  const width = chart.width ?? 820;
  const height = chart.height ?? 420;
  const plotW = width - M.left - M.right;
  const plotH = height - M.top - M.bottom;
  const all = chart.series.flatMap((s) => s.points);
  const x = niceScale(Math.max(...all.map((p) => p[0]), 0));
  const y = niceScale(Math.max(...all.map((p) => p[1]), ...(chart.marks ?? []).map((m) => m.y), 0));
  const px = (v: number) => M.left + (v / x.top) * plotW;
  const py = (v: number) => M.top + plotH - (v / y.top) * plotH;
  return { width, height, plotW, plotH, px, py, x, y };
}

function axes(chart: LineChart, f: ReturnType<typeof frameOf>): string[] {
  const { plotW, plotH, px, py } = f;
  const out: string[] = [];
  for (const v of ticks(f.y.top, f.y.step)) {
    out.push(
      `<line x1="${M.left}" x2="${M.left + plotW}" y1="${py(v)}" y2="${py(v)}" stroke="#e4e4e4"/>`,
    );
    out.push(`<text x="${M.left - 6}" y="${py(v) + 4}" text-anchor="end">${v}</text>`);
  }
  for (const v of ticks(f.x.top, f.x.step)) {
    out.push(`<text x="${px(v)}" y="${M.top + plotH + 18}" text-anchor="middle">${v}</text>`);
  }
  out.push(
    `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + plotH}" stroke="black"/>`,
    `<line x1="${M.left}" x2="${M.left + plotW}" y1="${M.top + plotH}" y2="${
      M.top + plotH
    }" stroke="black"/>`,
    `<text x="${M.left + plotW / 2}" y="${f.height - 12}" text-anchor="middle">${
      escapeXml(chart.xLabel)
    }</text>`,
    `<text transform="translate(16 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle">${
      escapeXml(chart.yLabel)
    }</text>`,
  );
  for (const mark of chart.marks ?? []) {
    out.push(
      `<line x1="${M.left}" x2="${M.left + plotW}" y1="${py(mark.y)}" y2="${
        py(mark.y)
      }" stroke="#999" stroke-dasharray="2 4"/>`,
      `<text x="${M.left + plotW - 4}" y="${py(mark.y) - 4}" text-anchor="end" fill="#777">${
        escapeXml(mark.label)
      }</text>`,
    );
  }
  return out;
}

function lines(chart: LineChart, f: Frame): string[] {
  return chart.series.flatMap((s, i) => {
    const d = s.points.map(([a, b]) => `${f.px(a).toFixed(1)},${f.py(b).toFixed(1)}`).join(" ");
    const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
    const ly = M.top + 10 + i * 20;
    const lx = f.width - M.right + 16;
    return [
      `<polyline points="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`,
      `<line x1="${lx}" x2="${
        lx + 24
      }" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`,
      `<text x="${lx + 30}" y="${ly + 4}">${escapeXml(s.name)}</text>`,
    ];
  });
}

/**
 * Renders the chart as a standalone SVG document.
 *
 * @example Two paths' goodput over time
 * ```ts
 * const svg = renderLineChart({
 *   title: "goodput per path",
 *   xLabel: "seconds",
 *   yLabel: "Mbit/s",
 *   series: [{ name: "veth-a", color: "#1f77b4", points: [[0, 0], [1, 48]] }],
 * });
 * ```
 */
export function renderLineChart(chart: LineChart): string {
  const f = frameOf(chart);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${f.width}" height="${f.height}" fill="white"/>`,
    `<text x="${f.width / 2}" y="24" text-anchor="middle" font-size="15">${
      escapeXml(chart.title)
    }</text>`,
    ...axes(chart, f),
    ...lines(chart, f),
    "</svg>",
  ].join("\n") + "\n";
}
