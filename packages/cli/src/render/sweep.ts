import type { SweepResult, SweepShardPlan } from '@pg/core';
import { ratio } from './report.js';
import { duration, fixed, magnitude, percent, renderTable } from './table.js';

/** The frontier axes a point can be on, as the sweep table names them: the whole model's first. */
const AXIS_NAMES: Record<string, string> = { act_bits: 'act bits', bavg: 'B_avg' };

/**
 * `pg sweep` without --json: one row per grid point (mode, bits, accuracy and drop from float), whole model first (activation bits, bit-serial BitOps and
 * their ratio to static B), then the gated layers' B_avg and sparsity, the frontiers marked, and how the run ended.
 */
export function renderSweep(r: SweepResult, outDir: string): string {
  const backends = Object.keys(r.frontier).filter((k) => !(k in AXIS_NAMES));
  const axes = Object.keys(r.frontier);
  const table = renderTable(
    [
      { header: 'point' },
      { header: 'mode' },
      { header: 'bits', align: 'right' },
      { header: 'status' },
      { header: 'accuracy', align: 'right' },
      { header: 'drop', align: 'right' },
      { header: 'sparsity (gated)', align: 'right' },
      { header: 'act bits (whole)', align: 'right' },
      { header: 'BitOps (whole)', align: 'right' },
      { header: 'vs static B', align: 'right' },
      { header: 'B_avg (gated)', align: 'right' },
      ...backends.map((b) => ({ header: `${b} (whole)`, align: 'right' as const })),
      { header: 'time', align: 'right' },
      { header: 'frontier' },
    ],
    r.points.map((p) => [
      p.id,
      p.mode ?? 'pg',
      p.hbits === null ? String(p.bits) : `${p.bits}/${p.hbits}`,
      p.status === 'complete' ? (p.reused ? 'reused' : 'done') : 'pending',
      percent(p.accuracy),
      p.accuracy_drop === null || p.accuracy_drop === undefined ? '-' : `${(p.accuracy_drop * 100).toFixed(2)} pt`,
      p.mode === 'static' ? '-' : fixed(p.sparsity, 3),
      fixed(p.whole_model?.act_bits, 2),
      magnitude(p.whole_model?.bitops),
      p.whole_model ? ratio(p.whole_model.bitops_vs_static_b) : '-',
      fixed(p.bavg, 2),
      ...backends.map((b) => {
        const c = p.costs.find((x) => x.backend === b);
        return c ? c.total.toPrecision(4) : '-';
      }),
      p.seconds === null ? '-' : duration(p.seconds * 1000),
      axes
        .filter((a) => r.frontier[a].includes(p.id))
        .map((a) => AXIS_NAMES[a] ?? a)
        .join(', '),
    ]),
  );
  const lines = [
    `Sweep of ${r.model} in ${outDir}: ${r.complete} of ${r.points.length} point(s) complete.`,
    'Whole model: activation bits per MAC over every conv/linear layer, bit-serial BitOps and each cost model per sample; B_avg and sparsity cover the gated layers only.',
    `Drop: points below the float model's ${percent(r.float_accuracy)} on the same data.`,
    '',
    table,
  ];
  if (r.invalid.length) lines.push('', `Left out (hbits >= bits): ${r.invalid.map((c) => `bits ${c.bits}/hbits ${c.hbits}`).join(', ')}.`);
  if (r.partial) {
    const why = [
      r.partial.missing_shards.length ? `shard(s) ${r.partial.missing_shards.join(', ')} missing` : '',
      r.partial.stopped_shards.length ? `shard(s) ${r.partial.stopped_shards.join(', ')} stopped early` : '',
    ]
      .filter(Boolean)
      .join(', ');
    lines.push('', `PARTIAL: ${why} of ${r.partial.shards}: their points are pending and the frontiers cover the others only.`);
  } else if (r.stopped === 'time-budget') {
    lines.push('', `Stopped by the time budget with ${r.pending} point(s) pending: run again with --resume to continue.`);
  }
  return lines.join('\n');
}

/** `pg sweep --dry-run`: each shard's points and estimated cost, and how uneven the split is. */
export function renderSweepPlan(plan: { shards: SweepShardPlan[]; shard: { index: number; count: number } | null; imbalance: number }): string {
  const table = renderTable(
    [{ header: 'shard' }, { header: 'points', align: 'right' }, { header: 'estimated MACs', align: 'right' }, { header: 'point ids' }],
    plan.shards.map((s) => [
      `${s.index}/${plan.shards.length}${plan.shard?.index === s.index ? ' (this run)' : ''}`,
      String(s.points.length),
      magnitude(s.estimate),
      s.points.join(' '),
    ]),
  );
  return [
    "Dry run: nothing was run or written. Estimated MACs per point: 3 x the training samples seen + the evaluated samples, x the float model's MACs per sample (docs/scale-out.md).",
    '',
    table,
    '',
    `Largest shard: ${fixed(plan.imbalance, 2)}x the mean shard's estimate.`,
  ].join('\n');
}
