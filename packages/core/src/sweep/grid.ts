import { UsageError } from '../errors/index.js';
import type { SweepConfig, SweepGrid } from './sweep-types.js';

/** The point's folder name: readable, sortable, and unique per configuration. */
export function pointId(c: SweepConfig): string {
  return `b${c.bits}-h${c.hbits}-s${c.target_sparsity}`;
}

/**
 * The grid's points in a fixed order (bits, hbits, sparsity, each as given), keeping only valid
 * combinations (hbits < bits); the left-out combinations are returned so the summary can say so.
 */
export function gridPoints(grid: SweepGrid): { points: SweepConfig[]; invalid: Array<{ bits: number; hbits: number }> } {
  for (const [name, values] of Object.entries(grid)) {
    if (values.length === 0) throw new UsageError(`the sweep grid has no --${name.replace('_', '-')} value`, { action: 'give at least one value' });
    if (new Set(values).size !== values.length) throw new UsageError(`--${name.replace('_', '-')} lists a value twice: ${values.join(',')}`, { action: 'list each value once' });
  }
  const points: SweepConfig[] = [];
  const invalid: Array<{ bits: number; hbits: number }> = [];
  for (const bits of grid.bits) {
    for (const hbits of grid.hbits) {
      if (hbits >= bits) {
        invalid.push({ bits, hbits });
        continue;
      }
      for (const target_sparsity of grid.target_sparsity) points.push({ bits, hbits, target_sparsity });
    }
  }
  if (points.length === 0) {
    throw new UsageError(`no valid grid point: every --hbits is >= every --bits (${grid.bits.join(',')})`, { action: 'give --hbits values below the --bits values, e.g. --bits 4 --hbits 2' });
  }
  return { points, invalid };
}
