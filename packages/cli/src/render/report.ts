import type { LayerReport, ReportResult } from '@pg/core';
import { count, fixed, percent, renderTable } from './table.js';

export function bitsOf(l: LayerReport): string {
  if (l.bits === null) return 'float';
  return l.hbits === null ? String(l.bits) : `${l.bits}/${l.hbits}`;
}

/** The headline figures as (name, value) pairs, shared by the text, Markdown and HTML reports. */
export function reportSummaryRows(r: ReportResult): [string, string][] {
  const head: [string, string][] = [
    ['model', r.model],
    ['data', `${r.data}, ${count(r.samples)} samples${r.skipped_files > 0 ? `, ${count(r.skipped_files)} unreadable file(s) skipped` : ''}`],
    ['accuracy', percent(r.accuracy)],
  ];
  if (r.perplexity !== undefined) head.push([`perplexity per ${r.perplexity_unit}`, r.perplexity.toFixed(4)]);
  if (r.baseline_perplexity !== undefined && r.perplexity_increase !== undefined) {
    head.push(['baseline perplexity', r.baseline_perplexity.toFixed(4)]);
    head.push(['perplexity increase', `${(r.perplexity_increase * 100).toFixed(2)}%`]);
  }
  if (r.baseline_accuracy !== undefined) {
    head.push(['baseline accuracy', percent(r.baseline_accuracy)]);
    if (r.accuracy_drop !== undefined) head.push(['accuracy drop', `${(r.accuracy_drop * 100).toFixed(2)} points`]);
  }
  const bits = r.bits === null ? 'float' : `${r.bits}/${r.hbits ?? '-'} bits, ${r.wbits === null || r.wbits === 32 ? 'float' : `${r.wbits}-bit`} weights`;
  head.push(
    ['precision', bits],
    ['act scale', r.act_scale],
    ['sparsity', `${fixed(r.sparsity, 3)} of output elements, ${fixed(r.sparsity_mac_weighted, 3)} MAC-weighted`],
    ['B_avg', r.bavg === null ? '- (no gated layers)' : `${fixed(r.bavg, 2)} bits` + (r.compute_reduction === null ? '' : ` (${fixed(r.compute_reduction, 2)}x less than static ${r.bits ?? '-'}-bit)`)],
  );
  return head;
}

/** The report of `pg report` without --json: the headline figures, then one row per layer. */
export function renderReport(r: ReportResult): string {
  const head = reportSummaryRows(r);
  const width = Math.max(...head.map(([k]) => k.length));
  const summary = head.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');

  const table = renderTable(
    [
      { header: 'layer' },
      { header: 'op' },
      { header: 'bits', align: 'right' },
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

/** A layer's row in the text and HTML tables: name, op, bits, MACs, outputs, high-precision share, threshold range. */
export function layerCells(l: LayerReport): string[] {
  return [
    l.name,
    l.op,
    bitsOf(l),
    count(l.macs),
    count(l.outputs),
    percent(l.high_precision_fraction),
    fixed(l.threshold?.min, 3),
    fixed(l.threshold?.mean, 3),
    fixed(l.threshold?.max, 3),
  ];
}
