import { UsageError } from '../errors/index.js';
import type { SweepConfig, SweepGrid } from './sweep-types.js';

/**
 * The point's folder name: readable, sortable, and unique per configuration. PG points keep the names of
 * sweeps from before the mode axis (b4-h2-s0.8), so --resume finds them.
 */
export function pointId(c: SweepConfig): string {
  if (c.mode === 'static') return `static-b${c.bits}`;
  const id = `b${c.bits}-h${c.hbits}-s${c.target_sparsity}`;
  return c.mode === 'pg' ? id : `${c.mode}-${id}`;
}

const FLAGS: Record<string, string> = { mode: '--mode', bits: '--bits', hbits: '--hbits', target_sparsity: '--target-sparsity' };

/**
 * The grid's points in a fixed order (mode, bits, hbits, sparsity, each as given), keeping only valid
 * combinations (hbits < bits); the left-out combinations are returned so the summary can say so.
 */
export function gridPoints(grid: SweepGrid): { points: SweepConfig[]; invalid: Array<{ bits: number; hbits: number }> } {
  const modes = grid.mode ?? ['pg'];
  const gating = modes.filter((m) => m !== 'static');
  for (const [name, values] of Object.entries({ ...grid, mode: modes }) as [string, readonly unknown[]][]) {
    // Prediction bits and targets are needed only by the gating modes.
    if (values.length === 0 && (gating.length > 0 || name === 'mode' || name === 'bits'))
      throw new UsageError(`the sweep grid has no ${FLAGS[name]} value`, { action: 'give at least one value' });
    if (new Set(values).size !== values.length) throw new UsageError(`${FLAGS[name]} lists a value twice: ${values.join(',')}`, { action: 'list each value once' });
  }
  const points: SweepConfig[] = [];
  const invalid: Array<{ bits: number; hbits: number }> = [];
  for (const mode of modes) {
    for (const bits of grid.bits) {
      if (mode === 'static') {
        points.push({ mode, bits, hbits: null, target_sparsity: null });
        continue;
      }
      for (const hbits of grid.hbits) {
        if (hbits >= bits) {
          if (!invalid.some((c) => c.bits === bits && c.hbits === hbits)) invalid.push({ bits, hbits });
          continue;
        }
        for (const target_sparsity of grid.target_sparsity) points.push({ mode, bits, hbits, target_sparsity });
      }
    }
  }
  if (points.length === 0) {
    throw new UsageError(`no valid grid point: every --hbits is >= every --bits (${grid.bits.join(',')})`, {
      action: 'give --hbits values below the --bits values, e.g. --bits 4 --hbits 2',
    });
  }
  return { points, invalid };
}
