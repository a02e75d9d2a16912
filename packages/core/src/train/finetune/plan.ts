import { UsageError } from '../../errors/index.js';
import type { PgLayer } from '../../gating/index.js';
import { DEFAULT_TARGET_SPARSITY, type FinetuneOptions } from '../options.js';
import { resolveTargetSparsity } from '../target.js';

/**
 * What a fine-tune does, decided once from its options and the model's layers. The parts read these, not
 * the options they come from, so a default that depends on other settings (the target when none is given,
 * a final calibration whenever there is a target) is an edit here alone; plain defaults are FINETUNE_DEFAULTS.
 */
export interface FinetunePlan {
  /** The sparsity the thresholds are calibrated to and kept near (from targetSparsity or targetBavg, else the default). */
  target?: number;
  /** 1 - target: the update fraction the sparsity term lets each layer keep. */
  budget?: number;
  /** Weights and biases are variables with gradients. */
  trainWeights: boolean;
  /** They have an optimizer too (a weight learning rate of 0 freezes them). */
  updateWeights: boolean;
  /** After training, move each gated layer's thresholds by one amount so its sparsity lands on the target. */
  finalCalibration: boolean;
}

export function planFinetune(layers: PgLayer[], opts: FinetuneOptions): FinetunePlan {
  const given = resolveTargetSparsity(layers, opts);
  // The default target is for gated layers: a model without any (pg convert --mode static) has no sparsity, so
  // a bare fine-tune trains its scales and weights (prepareFinetune refuses an explicit target on it).
  const gated = layers.some((l) => l.gated);
  const target = given ?? (opts.targetSparsity === 'none' || !gated ? undefined : DEFAULT_TARGET_SPARSITY);
  if (opts.finalCalibration === true && target === undefined) {
    throw new UsageError('--final-calibration needs a target to land on, and --target-sparsity none gives none.', {
      action: 'Give a target (--target-sparsity S or --target-bavg B), or leave --final-calibration out.',
    });
  }
  return {
    target,
    budget: target === undefined ? undefined : 1 - target,
    trainWeights: opts.trainWeights,
    updateWeights: opts.trainWeights && opts.weightLr > 0,
    finalCalibration: target !== undefined && finalCalibrationWithTarget(opts),
  };
}

/** Whether a run with a target ends with the final calibration: unless it is turned off. */
export function finalCalibrationWithTarget(opts: Pick<FinetuneOptions, 'finalCalibration'>): boolean {
  return opts.finalCalibration ?? true;
}
