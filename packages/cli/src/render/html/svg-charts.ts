// Charts as inline SVG strings: the HTML report must be one file that opens offline, and these few chart
// kinds (bars, histogram, scatter, heat map) are a page of code each, smaller than any chart library.
import { escapeHtml } from './escape.js';

/** One bar: a label on the left, the value as the bar's length, an optional tooltip. */
export interface Bar {
  label: string;
  value: number;
  /** Shown as the bar's text on the right. */
  text: string;
  /** Tooltip (SVG <title>); defaults to label and text. */
  title?: string;
}

const LABEL_CHARS = 34;

/** Names like '/layer1/layer1.0/conv1/Conv' are long: keep the end, which tells layers apart. */
function shorten(label: string, max = LABEL_CHARS): string {
  return label.length <= max ? label : `…${label.slice(label.length - max + 1)}`;
}

const num = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(2));
/** Tick labels: costs reach 10^9, so large values in exponent form. */
const tickText = (v: number): string => (Math.abs(v) >= 1e5 ? v.toExponential(1) : num(v));

/** Horizontal bars, one row per item; `max` fixes the scale (e.g. 1 for fractions). Bars are `rect.bar`. */
export function horizontalBars(id: string, bars: Bar[], opts: { max?: number; caption: string }): string {
  const row = 18;
  const left = 230;
  const barWidth = 380;
  const width = left + barWidth + 110;
  const height = bars.length * row + 8;
  const max = opts.max ?? Math.max(0, ...bars.map((b) => b.value));
  const scale = max > 0 ? barWidth / max : 0;
  const rows = bars.map((b, i) => {
    const y = 4 + i * row;
    const w = Math.max(0, b.value * scale);
    return (
      `<g><title>${escapeHtml(b.title ?? `${b.label}: ${b.text}`)}</title>` +
      `<text x="${left - 6}" y="${y + 13}" text-anchor="end" class="label">${escapeHtml(shorten(b.label))}</text>` +
      `<rect class="track" x="${left}" y="${y + 2}" width="${barWidth}" height="${row - 4}"/>` +
      `<rect class="bar" x="${left}" y="${y + 2}" width="${num(w)}" height="${row - 4}"/>` +
      `<text x="${num(left + w + 6)}" y="${y + 13}" class="value">${escapeHtml(b.text)}</text></g>`
    );
  });
  return svg(id, width, height, opts.caption, rows.join(''));
}

/** Counts of `values` in `bins` equal-width bins between their min and max. */
export function binCounts(values: readonly number[], bins: number): { lo: number; hi: number; counts: number[] } {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  // All values equal (e.g. thresholds never trained, all 0): centre them in a unit-wide range.
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor(((v - lo) / (hi - lo)) * bins))]++;
  return { lo, hi, counts };
}

/** A histogram of `values` with `bins` bars (`rect.bar`, one per bin, empty bins at height 0). */
export function histogram(id: string, values: readonly number[], opts: { bins: number; caption: string; xLabel: string }): string {
  const width = 300;
  const height = 150;
  const pad = { l: 34, r: 8, t: 8, b: 34 };
  const { lo, hi, counts } = binCounts(values, opts.bins);
  const peak = Math.max(1, ...counts);
  const plotW = width - pad.l - pad.r;
  const plotH = height - pad.t - pad.b;
  const bw = plotW / opts.bins;
  const bars = counts.map((c, i) => {
    const h = (c / peak) * plotH;
    const from = lo + ((hi - lo) * i) / opts.bins;
    const to = lo + ((hi - lo) * (i + 1)) / opts.bins;
    return `<rect class="bar" x="${num(pad.l + i * bw + 0.5)}" y="${num(pad.t + plotH - h)}" width="${num(bw - 1)}" height="${num(h)}"><title>${escapeHtml(`${from.toFixed(3)} … ${to.toFixed(3)}: ${c}`)}</title></rect>`;
  });
  const axis =
    `<line class="axis" x1="${pad.l}" y1="${pad.t + plotH}" x2="${pad.l + plotW}" y2="${pad.t + plotH}"/>` +
    `<text class="tick" x="${pad.l}" y="${pad.t + plotH + 13}" text-anchor="start">${lo.toFixed(2)}</text>` +
    `<text class="tick" x="${pad.l + plotW}" y="${pad.t + plotH + 13}" text-anchor="end">${hi.toFixed(2)}</text>` +
    `<text class="tick" x="${pad.l - 4}" y="${pad.t + 8}" text-anchor="end">${peak}</text>` +
    `<text class="tick" x="${pad.l - 4}" y="${pad.t + plotH}" text-anchor="end">0</text>` +
    `<text class="axis-label" x="${pad.l + plotW / 2}" y="${height - 4}" text-anchor="middle">${escapeHtml(opts.xLabel)}</text>`;
  return svg(id, width, height, opts.caption, axis + bars.join(''));
}

/** A point of a scatter plot; `frontier` points are joined by a line (`polyline.frontier`). */
export interface Point {
  x: number;
  y: number;
  label: string;
  frontier?: boolean;
  /** Drawn larger: the model this report is about. */
  current?: boolean;
}

/** 3-6 round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** Points (`circle.point`) with axes; the frontier points, sorted by x, joined by `polyline.frontier`. */
export function scatter(id: string, points: readonly Point[], opts: { caption: string; xLabel: string; yLabel: string; yFormat: (v: number) => string }): string {
  const width = 560;
  const height = 320;
  const pad = { l: 58, r: 16, t: 12, b: 42 };
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const span = (lo: number, hi: number): [number, number] => {
    const m = hi > lo ? (hi - lo) * 0.08 : Math.max(Math.abs(lo) * 0.05, 0.01);
    return [lo - m, hi + m];
  };
  const [x0, x1] = span(Math.min(...xs), Math.max(...xs));
  const [y0, y1] = span(Math.min(...ys), Math.max(...ys));
  const plotW = width - pad.l - pad.r;
  const plotH = height - pad.t - pad.b;
  const px = (x: number): number => pad.l + ((x - x0) / (x1 - x0)) * plotW;
  const py = (y: number): number => pad.t + plotH - ((y - y0) / (y1 - y0)) * plotH;
  const xt = niceTicks(x0, x1)
    .map(
      (t) =>
        `<line class="grid" x1="${num(px(t))}" y1="${pad.t}" x2="${num(px(t))}" y2="${pad.t + plotH}"/><text class="tick" x="${num(px(t))}" y="${pad.t + plotH + 14}" text-anchor="middle">${tickText(t)}</text>`,
    )
    .join('');
  const yt = niceTicks(y0, y1)
    .map(
      (t) =>
        `<line class="grid" x1="${pad.l}" y1="${num(py(t))}" x2="${pad.l + plotW}" y2="${num(py(t))}"/><text class="tick" x="${pad.l - 5}" y="${num(py(t) + 4)}" text-anchor="end">${escapeHtml(opts.yFormat(t))}</text>`,
    )
    .join('');
  const frontier = points
    .filter((p) => p.frontier)
    .sort((a, b) => a.x - b.x)
    .map((p) => `${num(px(p.x))},${num(py(p.y))}`)
    .join(' ');
  const line = frontier === '' ? '' : `<polyline class="frontier" points="${frontier}"/>`;
  const dots = points
    .map(
      (p) =>
        `<circle class="point${p.frontier ? ' on-frontier' : ''}${p.current ? ' current' : ''}" cx="${num(px(p.x))}" cy="${num(py(p.y))}" r="${p.current ? 6 : 4.5}">` +
        `<title>${escapeHtml(`${p.label}: ${opts.xLabel} ${p.x.toFixed(3)}, ${opts.yLabel} ${opts.yFormat(p.y)}`)}</title></circle>`,
    )
    .join('');
  const labels =
    `<text class="axis-label" x="${pad.l + plotW / 2}" y="${height - 6}" text-anchor="middle">${escapeHtml(opts.xLabel)}</text>` +
    `<text class="axis-label" transform="translate(14 ${pad.t + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(opts.yLabel)}</text>` +
    `<rect class="frame" x="${pad.l}" y="${pad.t}" width="${plotW}" height="${plotH}"/>`;
  return svg(id, width, height, opts.caption, xt + yt + labels + line + dots);
}

/** A `height × width` grid of cells (`rect.cell`), values in [0, 1]: grey for pictures, a heat scale for decisions. */
export function heatmap(id: string, values: readonly number[], opts: { height: number; width: number; caption: string; palette: 'grey' | 'heat'; size?: number }): string {
  const size = opts.size ?? 112;
  const cell = size / Math.max(opts.height, opts.width);
  const cells: string[] = [];
  for (let r = 0; r < opts.height; r++) {
    for (let c = 0; c < opts.width; c++) {
      const v = Math.min(1, Math.max(0, values[r * opts.width + c] ?? 0));
      cells.push(`<rect class="cell" x="${num(c * cell)}" y="${num(r * cell)}" width="${num(cell)}" height="${num(cell)}" fill="${colour(v, opts.palette)}"/>`);
    }
  }
  return svg(id, num(opts.width * cell), num(opts.height * cell), opts.caption, cells.join(''), 'map');
}

/** Grey: black → white. Heat: white (nothing updated) → dark red (every channel updated). */
function colour(v: number, palette: 'grey' | 'heat'): string {
  if (palette === 'grey') {
    const g = Math.round(v * 255);
    return `rgb(${g},${g},${g})`;
  }
  return `rgb(${Math.round(255 - v * 75)},${Math.round(255 - v * 215)},${Math.round(255 - v * 225)})`;
}

function svg(id: string, width: number | string, height: number | string, caption: string, body: string, kind = 'chart'): string {
  return (
    `<svg class="${kind}"${kind === 'map' ? ' shape-rendering="crispEdges"' : ''} data-chart="${escapeHtml(id)}" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(caption)}">` +
    `<title>${escapeHtml(caption)}</title>${body}</svg>`
  );
}
