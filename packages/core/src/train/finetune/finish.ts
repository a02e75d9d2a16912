import { META } from '../../gating/index.js';
import type { FinetuneResult } from '../options.js';
import { shiftThresholdsToTarget } from '../threshold-shift.js';
import { evaluateHeldOut } from './held-out.js';
import type { FinetuneOutput, FinetuneRun } from './run.js';
import type { KeptParams } from './run-state.js';
import { withTensorValues } from './trainable.js';

/**
 * Ends a run that trained (or stopped): the final calibration onto the target, the final evaluation (both
 * skipped when interrupted: the user wants to stop, and the checkpoint is written), the choice between the
 * last and the best model, and the tuned model with its result.
 */
export async function finish(run: FinetuneRun): Promise<FinetuneOutput> {
  const { opts, prep, state, trainable } = run;
  const target = prep.plan.target;
  const finalCalibration = prep.plan.finalCalibration && target !== undefined && state.stopped !== 'interrupted';
  if (finalCalibration) {
    // Training drifts the sparsity; move each layer's thresholds by one amount so it lands on the target.
    trainable.assignThresholds(await shiftThresholdsToTarget(withTensorValues(prep.model, trainable.values()), prep.data, target, prep.calibration));
  }
  if (state.stopped !== 'interrupted' && state.evaluations.at(-1)?.step !== state.step) await evaluateHeldOut(run);
  const chosen: KeptParams = opts.keepBest && state.best !== null ? state.best : { step: state.step, params: trainable.values() };
  const metadata = {
    ...prep.model.metadata,
    [META.finetune]: JSON.stringify({
      steps: chosen.step,
      seed: opts.seed,
      target_sparsity: target ?? null,
      train_weights: prep.plan.trainWeights,
      distill: opts.distill,
      lr_schedule: opts.lrSchedule,
      data: prep.data.name,
    }),
  };
  return { model: { ...withTensorValues(prep.model, chosen.params), metadata }, result: resultOf(run, chosen, finalCalibration) };
}

function resultOf(run: FinetuneRun, chosen: KeptParams, finalCalibration: boolean): FinetuneResult {
  const { opts, prep, state } = run;
  return {
    steps: state.step,
    epochs: (state.step * opts.batchSize) / prep.data.size,
    step_ms_median: median(state.stepMs),
    final_loss: state.loss,
    final_sparsity: state.sparsity,
    calibrated: prep.calibrated,
    act_scale: prep.actScale,
    trained: [...chosen.params.keys()],
    seed: opts.seed,
    target_sparsity: prep.plan.target ?? null,
    final_calibration: finalCalibration,
    stopped: state.stopped,
    resumed_from_step: state.firstStep,
    elapsed_ms: Date.now() - run.started,
    evaluations: state.evaluations,
    kept: { from: opts.keepBest && state.best !== null ? 'best' : 'last', step: chosen.step },
  };
}

function median(v: number[]): number {
  if (!v.length) return 0;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
