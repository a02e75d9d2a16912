import type { SweepPoint, SweepResult } from '@pg/core';
import { htmlTable, page, type PageSection } from './html/page.js';
import { scatter } from './html/svg-charts.js';
import { accuracyFormat, accuracySection } from './report-html.js';
import { fixed, percent } from './table.js';

/**
 * The HTML page of a sweep: accuracy against the whole model's activation bits (the default frontier), against
 * the gated layers' B_avg and against each cost model, frontiers drawn, and every point.
 */
export function renderSweepHtml(r: SweepResult): string {
  const done = r.points.filter((p) => p.status === 'complete');
  const frontier = (axis: string) => new Set(r.frontier[axis] ?? []);
  const wholeFrontier = frontier('act_bits');
  const sections: PageSection[] = [
    accuracySection(
      done.map((p) => ({
        label: p.id,
        accuracy: p.accuracy ?? 0,
        act_bits: p.whole_model?.act_bits ?? null,
        bitops: p.whole_model?.bitops ?? null,
        bavg: p.bavg,
        frontier: wholeFrontier.has(p.id),
      })),
    ),
    scatterSection('accuracy-vs-bavg', 'accuracy-vs-bavg', 'Accuracy against B_avg (gated layers only)', 'B_avg of the gated layers (bits)', done, frontier('bavg'), (p) => p.bavg),
  ];
  for (const backend of Object.keys(r.frontier).filter((k) => k !== 'act_bits' && k !== 'bavg')) {
    const unit = done.flatMap((p) => p.costs).find((c) => c.backend === backend)?.unit ?? '';
    sections.push(
      scatterSection(
        `cost-${backend}`,
        `accuracy-vs-cost:${backend}`,
        `Accuracy against ${backend} cost`,
        `${unit} per sample`,
        done,
        frontier(backend),
        (p) => p.costs.find((x) => x.backend === backend)?.total ?? null,
      ),
    );
  }
  sections.push({
    id: 'points',
    title: 'Grid points',
    html: htmlTable(
      ['point', 'mode', 'bits', 'hbits', 'target sparsity', 'status', 'accuracy', 'drop (points)', 'act bits (whole model)', 'B_avg (gated)', 'sparsity (gated)', 'model'],
      r.points.map((p) => [
        p.id,
        p.mode ?? 'pg',
        String(p.bits),
        p.hbits === null ? '-' : String(p.hbits),
        p.target_sparsity === null ? '-' : String(p.target_sparsity),
        p.status,
        percent(p.accuracy),
        p.accuracy_drop === null || p.accuracy_drop === undefined ? '-' : (p.accuracy_drop * 100).toFixed(2),
        fixed(p.whole_model?.act_bits, 2),
        fixed(p.bavg, 2),
        p.mode === 'static' ? '-' : fixed(p.sparsity, 3),
        p.model ?? '-',
      ]),
      [false, false, true, true, true, false, true, true, true, true, true, false],
    ),
  });
  return page(`pg sweep: ${r.model}`, `${r.complete} of ${r.points.length} point(s) complete; evaluated on ${r.eval_data}`, sections, r);
}

/** Accuracy against one cost axis over the complete points, its frontier drawn (section `id`, chart `chart`). */
function scatterSection(
  id: string,
  chart: string,
  title: string,
  xLabel: string,
  done: readonly SweepPoint[],
  on: ReadonlySet<string>,
  x: (p: SweepPoint) => number | null,
): PageSection {
  const points = done.flatMap((p) => {
    const v = x(p);
    return v !== null && p.accuracy !== null ? [{ x: v, y: p.accuracy, label: p.id, frontier: on.has(p.id) }] : [];
  });
  return { id, title, html: scatter(chart, points, { caption: title, xLabel, yLabel: 'accuracy', yFormat: accuracyFormat }) };
}
