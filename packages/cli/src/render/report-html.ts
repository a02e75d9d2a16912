import type { ReportResult } from '@pg/core';
import { escapeHtml } from './html/escape.js';
import { htmlTable, page, summaryTable, type PageSection } from './html/page.js';
import { heatmap, histogram, horizontalBars, scatter, type Point } from './html/svg-charts.js';
import { bitsOf, gatedScope, layerCells, ratio, reportSummaryRows, type PricedReport } from './report.js';
import { count, fixed, magnitude, percent } from './table.js';

/** One configuration in the accuracy chart (a compared model or a sweep point). */
export interface AccuracyPoint {
  label: string;
  accuracy: number;
  /** The whole model's activation bits per MAC: the chart's axis. */
  act_bits: number | null;
  /** The whole model's bit-serial BitOps per sample. */
  bitops: number | null;
  /** B_avg of the gated layers only, listed beside. */
  bavg: number | null;
  /** On the Pareto frontier of accuracy against the whole model's activation bits. */
  frontier: boolean;
  /** The model this report is about. */
  current?: boolean;
}

/** Bins of the per-channel threshold histograms. */
export const THRESHOLD_BINS = 12;

/** The HTML report of one model: summary (whole model first), per-layer table and charts, and the comparison when given. */
export function renderReportHtml(r: PricedReport, configurations: readonly AccuracyPoint[] = []): string {
  const sections: PageSection[] = [
    { id: 'summary', title: 'Summary', html: summaryTable(reportSummaryRows(r)) },
    { id: 'layers', title: 'Layers', html: layerTable(r) },
  ];
  const gated = r.layers.filter((l) => l.high_precision_fraction !== null);
  if (gated.length > 0) {
    sections.push({
      id: 'high-precision',
      title: 'High-precision fraction per gated layer',
      html:
        `<p class="note">Fraction of each layer's outputs that took the low-bit update (1 − the layer's sparsity), over the data set; the ${escapeHtml(gatedScope(r))}.</p>` +
        horizontalBars(
          'high-precision-fraction',
          gated.map((l) => ({ label: l.name, value: l.high_precision_fraction ?? 0, text: percent(l.high_precision_fraction) })),
          { max: 1, caption: 'High-precision fraction per gated layer' },
        ),
    });
  }
  sections.push({
    id: 'macs',
    title: 'MACs per layer',
    html:
      '<p class="note">Multiply-accumulates per sample of every Conv/Gemm layer (dense count, before gating).</p>' +
      horizontalBars(
        'macs',
        r.layers.map((l) => ({ label: l.name, value: l.macs, text: count(l.macs), title: `${l.name} (${l.op}, ${bitsOf(l)}): ${count(l.macs)} MACs` })),
        { caption: 'MACs per layer' },
      ),
  });
  if (r.costs && r.costs.length > 0) sections.push(costSection(r));
  if (r.sensitivity && r.sensitivity.length > 0) sections.push(sensitivitySection(r));
  const withThresholds = r.layers.filter((l) => l.threshold_per_channel !== null && l.threshold_per_channel.length > 0);
  if (withThresholds.length > 0) {
    const panels = withThresholds.map(
      (l) =>
        `<div class="panel"><h3>${escapeHtml(l.name)}</h3>` +
        histogram(`threshold-histogram:${l.name}`, l.threshold_per_channel ?? [], {
          bins: THRESHOLD_BINS,
          caption: `Per-channel thresholds of ${l.name}`,
          xLabel: `Δ (${l.threshold_per_channel?.length ?? 0} channels)`,
        }) +
        '</div>',
    );
    sections.push({
      id: 'thresholds',
      title: 'Per-channel thresholds',
      html: `<p class="note">Histogram of the learned thresholds Δ of each gated layer's output channels (${THRESHOLD_BINS} bins between the layer's min and max).</p><div class="grid">${panels.join('')}</div>`,
    });
  }
  if (configurations.length > 1) sections.push(accuracySection(configurations));
  if (r.decision_maps && r.decision_maps.layers.length > 0) sections.push(decisionSection(r));
  return page(`pg report: ${r.model}`, `${r.data}, ${count(r.samples)} samples`, sections, r);
}

/** `--cost`: per device model the totals and ratios, and the cost of each layer as bars. */
function costSection(r: ReportResult): PageSection {
  const costs = r.costs ?? [];
  const table = htmlTable(
    ['cost model', 'unit', 'total / sample', 'vs static B', 'vs static 8-bit', 'vs SeerNet', 'profile'],
    costs.map((c) => [c.backend, c.unit, magnitude(c.total), ratio(c.ratios.vs_static_b), ratio(c.ratios.vs_static_8bit), ratio(c.ratios.vs_seernet), c.profile]),
    [false, false, true, true, true, true, false],
  );
  const panels = costs.map(
    (c) =>
      `<div class="panel"><h3>${escapeHtml(c.backend)} (${escapeHtml(c.unit)} per sample)</h3>` +
      horizontalBars(
        `cost:${c.backend}`,
        c.per_layer.map((l) => ({ label: l.name, value: l.cost, text: magnitude(l.cost) })),
        { caption: `${c.backend}: ${c.unit} per layer` },
      ) +
      (c.notes.length ? `<ul class="muted">${c.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>` : '') +
      '</div>',
  );
  return {
    id: 'costs',
    title: 'Cost per device model',
    html: `<p class="note">Whole network, per sample; a ratio below 1 means cheaper than that baseline (formulas in docs/cost-models.md).</p>${table}<div class="grid">${panels.join('')}</div>`,
  };
}

/** `--per-layer-sensitivity`: accuracy with one gated layer forced to full precision or to prediction bits. */
function sensitivitySection(r: ReportResult): PageSection {
  const rows = r.sensitivity ?? [];
  const delta = (a: number): string => `${a >= r.accuracy ? '+' : ''}${((a - r.accuracy) * 100).toFixed(2)}`;
  const table = htmlTable(
    ['gated layer', 'full precision', 'Δ points', 'prediction only', 'Δ points'],
    rows.map((s) => [s.layer, percent(s.accuracy_full_precision), delta(s.accuracy_full_precision), percent(s.accuracy_prediction_only), delta(s.accuracy_prediction_only)]),
    [false, true, true, true, true],
  );
  const bars = horizontalBars(
    'sensitivity-prediction-only',
    rows.map((s) => ({ label: s.layer, value: Math.max(0, r.accuracy - s.accuracy_prediction_only), text: `${delta(s.accuracy_prediction_only)} points` })),
    { caption: 'Accuracy lost when the layer runs at prediction bits only' },
  );
  return {
    id: 'sensitivity',
    title: 'Per-layer sensitivity',
    html: `<p class="note">Accuracy with only this layer changed (the model as measured: ${percent(r.accuracy)}); the bars show the loss when the layer never takes the update: a long bar marks a layer to exclude from gating.</p>${table}${bars}`,
  };
}

function layerTable(r: ReportResult): string {
  return htmlTable(['layer', 'op', 'bits', 'input', 'MACs', 'outputs', 'high-prec', 'Δ min', 'Δ mean', 'Δ max'], r.layers.map(layerCells), [
    false,
    false,
    true,
    false,
    true,
    true,
    true,
    true,
    true,
    true,
  ]);
}

/** The accuracy scatter's y axis. */
export const accuracyFormat = (v: number): string => `${(v * 100).toFixed(1)}%`;

/**
 * Accuracy against the whole model's activation bits for several configurations, with the Pareto frontier
 * drawn; the table lists the whole model's BitOps and the gated layers' B_avg beside.
 */
export function accuracySection(configurations: readonly AccuracyPoint[]): PageSection {
  const points: Point[] = configurations
    .filter((c): c is AccuracyPoint & { act_bits: number } => c.act_bits !== null)
    .map((c) => ({ x: c.act_bits, y: c.accuracy, label: c.label, frontier: c.frontier, current: c.current }));
  const missing = configurations.length - points.length;
  const html =
    '<p class="note">Each point is one configuration at its activation bits per MAC over the whole model (every conv/linear layer, signs counted); the line joins the Pareto frontier (no other configuration is both more accurate and cheaper). B_avg covers the gated layers only.' +
    (missing > 0 ? ` ${missing} configuration(s) without conv/linear layers are not drawn.` : '') +
    '</p>' +
    (points.length > 0
      ? scatter('accuracy-vs-act-bits', points, {
          caption: 'Accuracy against whole-model activation bits',
          xLabel: 'activation bits per MAC (whole model)',
          yLabel: 'accuracy',
          yFormat: accuracyFormat,
        })
      : '') +
    htmlTable(
      ['configuration', 'accuracy', 'act bits (whole model)', 'BitOps (whole model)', 'B_avg (gated layers)', 'frontier'],
      configurations.map((c) => [c.label, percent(c.accuracy), fixed(c.act_bits, 2), magnitude(c.bitops), fixed(c.bavg, 2), c.frontier ? 'yes' : '']),
      [false, true, true, true, true, false],
    );
  return { id: 'accuracy-vs-act-bits', title: 'Accuracy against whole-model activation bits', html };
}

/** A linear layer's strip: 4 px per output unit (at least the conv maps' 112 px, at most 448 px wide). */
const stripSize = (units: number): number => Math.max(112, Math.min(4 * units, 448));

/** Per shown sample a row: the input, then each gated layer's map (conv: updated positions; linear: a strip of output units). */
function decisionSection(r: ReportResult): PageSection {
  const maps = r.decision_maps!;
  const head = `<tr><th>input</th>${maps.layers.map((m) => `<th title="${escapeHtml(m.layer)}">${escapeHtml(m.layer)}<br>${m.height}×${m.width}</th>`).join('')}</tr>`;
  const rows = maps.samples.map((s, i) => {
    const input = s.image ? heatmap(`input:${s.index}`, s.image.pixels, { height: s.image.height, width: s.image.width, palette: 'grey', caption: `sample ${s.index}` }) : '';
    const caption = `#${s.index}: label ${s.label ?? '-'}, predicted ${s.predicted}`;
    const cells = maps.layers.map(
      (m) =>
        `<td>${heatmap(`decision-map:${m.layer}:${s.index}`, m.fractions[i], {
          height: m.height,
          width: m.width,
          palette: 'heat',
          size: m.kind === 'linear' ? stripSize(m.width) : undefined,
          caption:
            m.kind === 'linear'
              ? `${m.layer}, sample ${s.index}: output units updated (red) or not (white), ${m.width} in a row`
              : `${m.layer}, sample ${s.index}: fraction of channels updated per position`,
        })}</td>`,
    );
    return `<tr><td>${input}<div class="muted">${escapeHtml(caption)}</div></td>${cells.join('')}</tr>`;
  });
  return {
    id: 'decision-maps',
    title: 'Decision maps',
    html:
      `<p class="note">Which output positions took the high-precision update, for the first ${maps.samples.length} sample(s): each cell is the fraction of the layer's channels updated at that position <span class="legend"></span> (white: none, red: all); a gated linear layer is one row of its output units (red: updated).</p>` +
      `<table class="maps"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`,
  };
}
