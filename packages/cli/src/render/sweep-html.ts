import type { SweepResult } from '@pg/core';
import { htmlTable, page, type PageSection } from './html/page.js';
import { scatter } from './html/svg-charts.js';
import { accuracySection } from './report-html.js';
import { fixed, percent } from './table.js';

/** The HTML page of a sweep: accuracy against B_avg and against each cost model, frontiers drawn, and every point. */
export function renderSweepHtml(r: SweepResult): string {
  const done = r.points.filter((p) => p.status === 'complete');
  const frontier = (axis: string) => new Set(r.frontier[axis] ?? []);
  const bavgFrontier = frontier('bavg');
  const sections: PageSection[] = [
    accuracySection(done.map((p) => ({ label: p.id, accuracy: p.accuracy ?? 0, bavg: p.bavg, frontier: bavgFrontier.has(p.id) }))),
  ];
  for (const backend of Object.keys(r.frontier).filter((k) => k !== 'bavg')) {
    const on = frontier(backend);
    const points = done.flatMap((p) => {
      const c = p.costs.find((x) => x.backend === backend);
      return c && p.accuracy !== null ? [{ x: c.total, y: p.accuracy, label: p.id, frontier: on.has(p.id) }] : [];
    });
    const unit = done.flatMap((p) => p.costs).find((c) => c.backend === backend)?.unit ?? '';
    sections.push({
      id: `cost-${backend}`,
      title: `Accuracy against ${backend} cost`,
      html: scatter(`accuracy-vs-cost:${backend}`, points, { caption: `Accuracy against ${backend} cost`, xLabel: `${unit} per sample`, yLabel: 'accuracy', yFormat: (v) => `${(v * 100).toFixed(1)}%` }),
    });
  }
  sections.push({
    id: 'points',
    title: 'Grid points',
    html: htmlTable(
      ['point', 'bits', 'hbits', 'target sparsity', 'status', 'accuracy', 'B_avg', 'sparsity', 'model'],
      r.points.map((p) => [p.id, String(p.bits), String(p.hbits), String(p.target_sparsity), p.status, percent(p.accuracy), fixed(p.bavg, 2), fixed(p.sparsity, 3), p.model ?? '-']),
      [false, true, true, true, false, true, true, true, false],
    ),
  });
  return page(`pg sweep: ${r.model}`, `${r.complete} of ${r.points.length} point(s) complete; evaluated on ${r.eval_data}`, sections, r);
}
