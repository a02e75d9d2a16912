import type { AccuracyPoint } from './report-html.js';
import { bitsOf, inputSign, ratio, reportSummaryRows, type PricedReport } from './report.js';
import { count, fixed, magnitude, percent } from './table.js';

/** A cell's text: pipes and line breaks would break the table. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** A GitHub-flavoured Markdown table; `numeric` columns are right-aligned. */
export function markdownTable(headers: readonly string[], rows: readonly string[][], numeric: readonly boolean[] = []): string {
  const line = (cells: readonly string[]): string => `| ${cells.map(cell).join(' | ')} |`;
  const rule = `|${headers.map((_, i) => (numeric[i] ? '---:' : '---')).join('|')}|`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

/**
 * The report as a pull-request comment: the headline table in view (whole model first), the per-layer table
 * folded (GitHub renders <details>), and the comparison when several configurations were measured.
 */
export function renderReportMarkdown(r: PricedReport, configurations: readonly AccuracyPoint[] = []): string {
  const parts: string[] = [`### pg report: \`${r.model.replace(/`/g, "'")}\``, '', markdownTable(['', ''], reportSummaryRows(r))];
  if (configurations.length > 1) {
    parts.push(
      '',
      "**Configurations** (★ on the Pareto frontier of accuracy against the whole model's activation bits)",
      '',
      markdownTable(
        ['configuration', 'accuracy', 'act bits (whole model)', 'BitOps (whole model)', 'B_avg (gated layers)'],
        configurations.map((c) => [`${c.frontier ? '★ ' : ''}${c.label}`, percent(c.accuracy), fixed(c.act_bits, 2), magnitude(c.bitops), fixed(c.bavg, 2)]),
        [false, true, true, true, true],
      ),
    );
  }
  if (r.costs && r.costs.length > 0) {
    parts.push(
      '',
      '**Cost per sample, whole network** (ratio < 1: cheaper than the baseline)',
      '',
      markdownTable(
        ['cost model', 'unit', 'total', 'vs static B', 'vs static 8-bit', 'vs SeerNet'],
        r.costs.map((c) => [c.backend, c.unit, c.total.toPrecision(4), ratio(c.ratios.vs_static_b), ratio(c.ratios.vs_static_8bit), ratio(c.ratios.vs_seernet)]),
        [false, false, true, true, true, true],
      ),
    );
  }
  if (r.sensitivity && r.sensitivity.length > 0) {
    parts.push(
      '',
      '**Per-layer sensitivity** (accuracy with only this layer changed)',
      '',
      markdownTable(
        ['gated layer', 'full precision', 'prediction only'],
        r.sensitivity.map((s) => [`\`${s.layer}\``, percent(s.accuracy_full_precision), percent(s.accuracy_prediction_only)]),
        [false, true, true],
      ),
    );
  }
  if (r.gates && r.gates.length > 0) {
    parts.push('', ...r.gates.map((g) => `- ${g.failed ? '❌' : '✅'} \`${g.expression}\` (${g.field} = ${g.value === null ? 'none' : Number(g.value.toPrecision(6))})`));
  }
  const layers = markdownTable(
    ['layer', 'op', 'bits', 'input', 'MACs', 'high-prec', 'Δ mean'],
    r.layers.map((l) => [`\`${l.name}\``, l.op, bitsOf(l), inputSign(l), count(l.macs), percent(l.high_precision_fraction), fixed(l.threshold?.mean, 3)]),
    [false, false, true, false, true, true, true],
  );
  parts.push('', `<details><summary>Per layer (${r.layers.length} layers)</summary>`, '', layers, '', '</details>', '');
  return parts.join('\n');
}
