import type { CostReport, GateCheck, LayerSensitivity } from '@pg/core';
import { fixed, magnitude, percent, renderTable } from './table.js';

/** `--cost`: one row per device model (total and ratios), then each model's notes. */
export function renderCosts(costs: readonly CostReport[]): string {
  const ratio = (v: number) => `${fixed(v, 3)}x`;
  const table = renderTable(
    [
      { header: 'cost model' },
      { header: 'unit' },
      { header: 'total/sample', align: 'right' },
      { header: 'vs static B', align: 'right' },
      { header: 'vs static 8-bit', align: 'right' },
      { header: 'vs SeerNet', align: 'right' },
      { header: 'profile' },
    ],
    costs.map((c) => [c.backend, c.unit, magnitude(c.total), ratio(c.ratios.vs_static_b), ratio(c.ratios.vs_static_8bit), ratio(c.ratios.vs_seernet), c.profile]),
  );
  // A note every model makes (e.g. what is not counted) is printed once.
  const shared = costs.length > 1 ? costs[0].notes.filter((n) => costs.every((c) => c.notes.includes(n))) : [];
  const notes = [...shared.map((n) => `  all: ${n}`), ...costs.flatMap((c) => c.notes.filter((n) => !shared.includes(n)).map((n) => `  ${c.backend}: ${n}`))];
  return `${table}\n\nnotes (ratio < 1: cheaper than the baseline; formulas in docs/cost-models.md):\n${notes.join('\n')}`;
}

/** `--per-layer-sensitivity`: one row per gated layer, with the change against the model as measured. */
export function renderSensitivity(rows: readonly LayerSensitivity[], accuracy: number): string {
  const delta = (a: number) => `${a >= accuracy ? '+' : ''}${((a - accuracy) * 100).toFixed(2)}`;
  return renderTable(
    [
      { header: 'gated layer' },
      { header: 'full precision', align: 'right' },
      { header: 'Δ points', align: 'right' },
      { header: 'prediction only', align: 'right' },
      { header: 'Δ points', align: 'right' },
    ],
    rows.map((r) => [r.layer, percent(r.accuracy_full_precision), delta(r.accuracy_full_precision), percent(r.accuracy_prediction_only), delta(r.accuracy_prediction_only)]),
  );
}

/** One line per failed `--fail-if` condition, naming the value that failed it. */
export function renderFailedGates(gates: readonly GateCheck[]): string[] {
  return gates
    .filter((g) => g.failed)
    .map((g) =>
      g.value === null ? `Gate failed: ${g.expression} (${g.field} has no value in this report)` : `Gate failed: ${g.expression} (${g.field} = ${Number(g.value.toPrecision(6))})`,
    );
}
