import type { LayerReport, ReportResult, WholeModel } from '@pg/core';
import { count, fixed, magnitude, percent, renderTable } from './table.js';

/** `pg report merge --allow-partial` without every shard: which were missing (the figures cover the others' samples). */
export interface PartialReport {
  shards: number;
  missing_shards: number[];
}

/** A report with its whole-model figures attached, as pg report prints it. */
export type PricedReport = ReportResult & { whole_model: WholeModel; partial?: PartialReport; shard?: { index: number; count: number; samples: { first: number; end: number } } };

export function bitsOf(l: LayerReport): string {
  if (l.bits === null) return 'float';
  return l.hbits === null ? String(l.bits) : `${l.bits}/${l.hbits}${l.gate_mode === 'seernet' ? ' seernet' : ''}`;
}

/** What `pg convert --mode` made of the layers the method gates, in words. */
export function describeMode(mode: ReportResult['mode']): string {
  if (mode === null) return 'none (float model)';
  if (mode === 'static') return 'static: the layers PG would gate are quantized at B bits without a gate (uniform quantization)';
  if (mode === 'seernet') return 'seernet: predicted from B_hb bits; outputs that pass the gate recomputed at B bits, the others zero (SeerNet)';
  return 'pg: gated (prediction from B_hb bits, the low bits added where the gate passes)';
}

/** A cost ratio: 0.838x. */
export const ratio = (v: number): string => `${v.toFixed(3)}x`;

/** What the gated-only figures cover, e.g. 'gated layers (39.2% of MACs)'. */
export function gatedScope(r: PricedReport): string {
  return `gated layers (${percent(r.whole_model.gated_mac_fraction)} of MACs)`;
}

/** The static-B baseline's name: 'static 4-bit', or 'static B' for a model without quantized layers. */
function staticB(r: ReportResult): string {
  return r.bits === null ? 'static B' : `static ${r.bits}-bit`;
}

/**
 * The whole network's figures as (name, value) pairs: what every report form leads with (text, Markdown, HTML).
 * Activation and weight bits are per MAC over every Conv/Gemm layer, signs counted as stored.
 */
export function wholeModelRows(r: PricedReport): [string, string][] {
  const w = r.whole_model;
  return [
    [
      'whole model',
      `${fixed(w.act_bits, 2)} activation bits, ${fixed(w.weight_bits, 2)} weight bits per MAC over all ${r.layers.length} conv/linear layers (${count(w.macs)} MACs per sample; signs counted)`,
    ],
    [
      'BitOps',
      `${magnitude(w.bitops)} per sample, whole network on the bit-serial model: ${ratio(w.bitops_vs_static_b)} ${staticB(r)}, ${ratio(w.bitops_vs_static_8bit)} static 8-bit, ${ratio(w.bitops_vs_seernet)} SeerNet-style`,
    ],
  ];
}

/** The gated layers' own figures (the paper's Sp and B_avg), each labelled with the share of MACs it covers. */
export function gatedRows(r: PricedReport): [string, string][] {
  const gated = r.layers.filter((l) => l.gated).length;
  if (gated === 0) return [['gated layers', 'none: the model has no gated layer, so sparsity and B_avg do not apply']];
  const scope = gatedScope(r);
  return [
    ['gated layers', `${gated} of ${r.layers.length}, ${percent(r.whole_model.gated_mac_fraction)} of the MACs`],
    ['sparsity', `${fixed(r.sparsity, 3)} of output elements, ${fixed(r.sparsity_mac_weighted, 3)} MAC-weighted, over ${scope}`],
    ['B_avg', r.bavg === null ? '-' : `${fixed(r.bavg, 2)} bits over ${scope}`],
  ];
}

/** The headline figures as (name, value) pairs, shared by the text, Markdown and HTML reports: whole model first. */
export function reportSummaryRows(r: PricedReport): [string, string][] {
  const head: [string, string][] = [];
  if (r.partial) {
    const n = r.partial.missing_shards.length;
    head.push(['PARTIAL', `shard${n > 1 ? 's' : ''} ${r.partial.missing_shards.join(', ')} of ${r.partial.shards} missing: every figure covers the other shards' samples only`]);
  }
  if (r.shard) head.push(['shard', `${r.shard.index}/${r.shard.count}: samples ${r.shard.samples.first}-${r.shard.samples.end - 1} only (merge the shards with pg report merge)`]);
  head.push(
    ['model', r.model],
    ['data', `${r.data}, ${count(r.samples)} samples${r.skipped_files > 0 ? `, ${count(r.skipped_files)} unreadable file(s) skipped` : ''}`],
    ['accuracy', percent(r.accuracy)],
  );
  if (r.perplexity !== undefined) head.push([`perplexity per ${r.perplexity_unit}`, r.perplexity.toFixed(4)]);
  if (r.baseline_perplexity !== undefined && r.perplexity_increase !== undefined) {
    head.push(['baseline perplexity', r.baseline_perplexity.toFixed(4)]);
    head.push(['perplexity increase', `${(r.perplexity_increase * 100).toFixed(2)}%`]);
  }
  if (r.baseline_accuracy !== undefined) {
    head.push(['baseline accuracy', percent(r.baseline_accuracy)]);
    if (r.accuracy_drop !== undefined) head.push(['accuracy drop', `${(r.accuracy_drop * 100).toFixed(2)} points`]);
  }
  const weights = r.wbits === null || r.wbits === 32 ? 'float weights' : `${r.wbits}-bit weights (${r.wbits + 1}-bit codes with the sign)`;
  const bits = r.bits === null ? 'float' : `${r.bits}/${r.hbits ?? '-'} bits, ${weights}`;
  head.push(...wholeModelRows(r), ['mode', describeMode(r.mode ?? 'pg')], ['precision', bits], ['act scale', r.act_scale], ...gatedRows(r));
  return head;
}

/** The report of `pg report` without --json: the headline figures, then one row per layer. */
export function renderReport(r: PricedReport): string {
  const head = reportSummaryRows(r);
  const width = Math.max(...head.map(([k]) => k.length));
  const summary = head.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');

  const table = renderTable(
    [
      { header: 'layer' },
      { header: 'op' },
      { header: 'bits', align: 'right' },
      { header: 'input' },
      { header: 'MACs', align: 'right' },
      { header: 'outputs', align: 'right' },
      { header: 'high-prec', align: 'right' },
      { header: 'thr min', align: 'right' },
      { header: 'thr mean', align: 'right' },
      { header: 'thr max', align: 'right' },
    ],
    r.layers.map(layerCells),
  );
  return `${summary}\n\n${table}`;
}

/** Whether a layer's activation codes carry a sign (docs/cost-models.md, "Signs"). */
export const inputSign = (l: LayerReport): string => (l.input_signed ? 'signed' : 'unsigned');

/** A layer's row in the text and HTML tables: name, op, bits, input sign, MACs, outputs, high-precision share, threshold range. */
export function layerCells(l: LayerReport): string[] {
  return [
    l.name,
    l.op,
    bitsOf(l),
    inputSign(l),
    count(l.macs),
    count(l.outputs),
    percent(l.high_precision_fraction),
    fixed(l.threshold?.min, 3),
    fixed(l.threshold?.mean, 3),
    fixed(l.threshold?.max, 3),
  ];
}
