import { UsageError } from '../../errors/index.js';
import type { PgLayer } from '../../pg/index.js';
import type { FinetuneOptions } from '../options.js';
import { resolveTargetSparsity } from '../target.js';

/**
 * What a fine-tune does, decided once from its options and the model's layers. The parts read these, not
 * the options they come from, so a default that depends on other settings (e.g. a final calibration
 * whenever there is a target) is an edit here alone; plain defaults are FINETUNE_DEFAULTS.
 */
export interface FinetunePlan {
  /** The sparsity the thresholds are calibrated to and kept near (from targetSparsity or targetBavg). */
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
  const target = resolveTargetSparsity(layers, opts);
  if (opts.finalCalibration && target === undefined) {
    throw new UsageError('--final-calibration needs a target to land on.', { action: 'Add --target-sparsity S or --target-bavg B, or leave it out.' });
  }
  return {
    target,
    budget: target === undefined ? undefined : 1 - target,
    trainWeights: opts.trainWeights,
    updateWeights: opts.trainWeights && opts.weightLr > 0,
    finalCalibration: opts.finalCalibration,
  };
}
