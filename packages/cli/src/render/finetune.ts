import type { FinetuneResult } from '@pg/core';
import { duration } from './table.js';

interface FinetuneSummary extends FinetuneResult {
  output: string;
  data: string;
}

/** The outcome of `pg finetune` without --json: what was trained, how fast, and where it went. */
export function renderFinetune(r: FinetuneSummary): string {
  const calibrated = [r.calibrated.act_scales ? 'activation scales' : '', r.calibrated.thresholds ? 'thresholds' : ''].filter((s) => s !== '');
  const lines = [
    `Wrote ${r.output}.`,
    `  data            ${r.data}`,
    `  steps           ${r.steps} (${r.epochs.toFixed(2)} epoch(s)), median ${duration(r.step_ms_median)} a step`,
    `  final loss      ${r.final_loss.toFixed(4)}`,
    `  final sparsity  ${r.final_sparsity.toFixed(3)} (last batch)`,
    `  act scale       ${r.act_scale}`,
    `  calibrated      ${calibrated.length === 0 ? 'nothing' : calibrated.join(' and ')}`,
    `  trained         ${r.trained.length} tensor(s)`,
    `  seed            ${r.seed}`,
    `Next: pg report ${r.output} --data <test data> [--baseline <float model>]`,
  ];
  return lines.join('\n');
}
