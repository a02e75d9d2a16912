import type { SweepResult } from '@pg/core';
import { duration, fixed, percent, renderTable } from './table.js';

/** `pg sweep` without --json: one row per grid point, the frontier marked, and how the run ended. */
export function renderSweep(r: SweepResult, outDir: string): string {
  const onFrontier = new Set(r.frontier.bavg ?? []);
  const backends = Object.keys(r.frontier).filter((k) => k !== 'bavg');
  const table = renderTable(
    [
      { header: 'point' },
      { header: 'status' },
      { header: 'accuracy', align: 'right' },
      { header: 'B_avg', align: 'right' },
      { header: 'sparsity', align: 'right' },
      ...backends.map((b) => ({ header: b, align: 'right' as const })),
      { header: 'time', align: 'right' },
      { header: 'frontier' },
    ],
    r.points.map((p) => [
      p.id,
      p.status === 'complete' ? (p.reused ? 'reused' : 'done') : 'pending',
      percent(p.accuracy),
      fixed(p.bavg, 2),
      fixed(p.sparsity, 3),
      ...backends.map((b) => {
        const c = p.costs.find((x) => x.backend === b);
        return c ? c.total.toPrecision(4) : '-';
      }),
      p.seconds === null ? '-' : duration(p.seconds * 1000),
      [onFrontier.has(p.id) ? 'B_avg' : '', ...backends.filter((b) => r.frontier[b].includes(p.id))].filter((s) => s !== '').join(', '),
    ]),
  );
  const lines = [`Sweep of ${r.model} in ${outDir}: ${r.complete} of ${r.points.length} point(s) complete.`, '', table];
  if (r.invalid.length) lines.push('', `Left out (hbits >= bits): ${r.invalid.map((c) => `bits ${c.bits}/hbits ${c.hbits}`).join(', ')}.`);
  if (r.stopped === 'time-budget') lines.push('', `Stopped by the time budget with ${r.pending} point(s) pending: run again with --resume to continue.`);
  return lines.join('\n');
}
