import type { FinetuneResult } from '@pg/core';
import { duration } from './table.js';

interface FinetuneSummary extends FinetuneResult {
  output: string;
  data: string;
  checkpoint: string | null;
  skipped_files: number;
}

/** The outcome of `pg finetune` without --json: what was trained, how fast, and where it went. */
export function renderFinetune(r: FinetuneSummary): string {
  const calibrated = [r.calibrated.act_scales ? 'activation scales' : '', r.calibrated.thresholds ? 'thresholds' : ''].filter((s) => s !== '');
  const lines = [
    `Wrote ${r.output}.`,
    `  data            ${r.data}`,
    ...(r.skipped_files > 0 ? [`  skipped         ${r.skipped_files} unreadable file(s) (--skip-bad)`] : []),
    `  steps           ${r.steps} (${r.epochs.toFixed(2)} epoch(s)), median ${duration(r.step_ms_median)} a step`,
    `  final loss      ${r.final_loss === null ? 'none (no step)' : r.final_loss.toFixed(4)}`,
    `  final sparsity  ${r.final_sparsity === null ? 'none (no step)' : `${r.final_sparsity.toFixed(3)} (gated layers, last batch)`}`,
    `  act scale       ${r.act_scale}`,
    `  calibrated      ${calibrated.length === 0 ? 'nothing' : calibrated.join(' and ')}`,
    `  trained         ${r.trained.length} tensor(s)`,
    `  seed            ${r.seed}`,
    `  target          ${r.target_sparsity === null ? 'none' : `sparsity ${r.target_sparsity.toFixed(3)}${r.final_calibration ? ', landed on by the final calibration' : ''}`}`,
    ...(r.stopped === 'completed' ? [] : [`  stopped         by the ${r.stopped === 'time-budget' ? 'time budget' : 'interruption'}`]),
    ...(r.resumed_from_step > 0 ? [`  resumed         from step ${r.resumed_from_step}`] : []),
    ...r.evaluations.map(
      (e) =>
        `  evaluation      step ${e.step}: accuracy ${(e.accuracy * 100).toFixed(2)}%, sparsity ${e.sparsity.toFixed(3)} (gated layers)${e.meets_target ? '' : ', below the target'}`,
    ),
    ...(r.kept.from === 'best' ? [`  kept            the best evaluation's model (step ${r.kept.step})`] : []),
    ...(r.checkpoint === null ? [] : [`  checkpoint      ${r.checkpoint}`]),
    `Next: pg report ${r.output} --data <test data> [--baseline <float model>]`,
  ];
  return lines.join('\n');
}
