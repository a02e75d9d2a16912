import type { FinetuneOptions } from '../options.js';

/** Multiplier of the base learning rates at `step` (0-based) of `total`. */
export function lrFactor(schedule: FinetuneOptions['lrSchedule'], step: number, total: number): number {
  if (schedule === 'constant') return 1;
  const warmup = Math.max(1, Math.round(total * 0.05));
  if (step < warmup) return (step + 1) / warmup;
  return 0.5 * (1 + Math.cos((Math.PI * (step - warmup)) / Math.max(1, total - warmup)));
}
