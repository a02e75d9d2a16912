/**
 * Options of `pg finetune`; defaults in FINETUNE_DEFAULTS, and those that depend on other options (the target,
 * the final calibration) in planFinetune. The defaults are pg's recipe: thresholds calibrated to
 * DEFAULT_TARGET_SPARSITY, weights trained, thresholds shifted onto the target at the end.
 */
export interface FinetuneOptions {
  /** Passes over the training data (fractions allowed, e.g. 0.25). */
  epochs: number;
  /** Stop after this many steps, whatever `epochs` says. */
  maxSteps?: number;
  batchSize: number;
  /** Learning rate of the thresholds and scales (Adam). */
  lr: number;
  /** Learning rate of the weights with `trainWeights` (Adam); 0 freezes them. */
  weightLr: number;
  /** Train the conv/linear weights and biases too; false trains thresholds and scales only (the paper's setting). */
  trainWeights: boolean;
  /**
   * Calibrate each channel's threshold to this fraction of skipped updates before training, and keep it near
   * there. Unset (and no targetBavg): DEFAULT_TARGET_SPARSITY. 'none': no target; the thresholds start as
   * the model has them and only the gate penalty moves them.
   */
  targetSparsity?: number | 'none';
  /**
   * The same as a target sparsity, given as the average bitwidth B_avg = B_hb + (1 - S)·B_lb of the gated
   * layers (so S = 1 - (B_avg - B_hb)/B_lb); within [B_hb, B]. Exclusive with targetSparsity.
   */
  targetBavg?: number;
  /** δ, the gating target of the method's penalty σ Σ ||Δ - δ||. */
  gateTarget: number;
  /** σ of that penalty. */
  penalty: number;
  /** Weight of the sparsity-keeping term (only with targetSparsity). */
  sparsityWeight: number;
  /** Slope α of the sigmoid surrogate. */
  alpha: number;
  sparseBackprop: boolean;
  /** Learning rates over the run: constant, or cosine decay to 0 after a linear warm-up over 5% of the steps. */
  lrSchedule: 'constant' | 'cosine';
  /** Add the KL divergence from the float model's predictions (the gated model's float twin) to the loss. */
  distill: boolean;
  /** Re-calibrate static activation scales from data before training, even when already calibrated. */
  recalibrate: boolean;
  /** Batches used for calibration. */
  calibrationBatches: number;
  seed: number;
  /** Hold out this fraction of the training data (seeded by `seed`, never trained on) for evaluation. */
  evalSplit?: number;
  /** Evaluate on the held-out data every N steps (and always at the end). */
  evalEvery?: number;
  /** Return the evaluated model that scored best (see bestEvaluation) instead of the last one. */
  keepBest: boolean;
  /** Stop before the run (calibration included) would take longer than this; the model trained so far is returned. */
  timeBudgetMs?: number;
  /** Hand a checkpoint to the caller every N steps (besides the one when stopped early). */
  checkpointEvery?: number;
  /**
   * After training, move each gated layer's thresholds by one amount so that its sparsity on the calibration
   * sample lands on the target (training drifts it); only with a target. What training learnt stays: the
   * differences between channels, the scales and the weights. Unset: whenever there is a target.
   */
  finalCalibration?: boolean;
  /**
   * Threads computing a step's gradients (data-parallel, the main thread included); default: one per
   * core, at most `shards`. Does not change the result.
   */
  workers?: number;
  /** Micro-shards per batch, which the step's loss is defined over (see train/parallel/shard-loss.ts). */
  shards: number;
}

/** The sparsity a fine-tune aims at when none is given (at 4/2 bits, B_avg 2.3 over the gated layers); docs/method.md says why. */
export const DEFAULT_TARGET_SPARSITY = 0.85;

export const FINETUNE_DEFAULTS: FinetuneOptions = {
  epochs: 1,
  batchSize: 128,
  lr: 1e-3,
  weightLr: 1e-3,
  trainWeights: true,
  gateTarget: 0,
  penalty: 1e-3,
  sparsityWeight: 1,
  alpha: 5,
  sparseBackprop: false,
  recalibrate: false,
  lrSchedule: 'cosine',
  distill: false,
  calibrationBatches: 8,
  seed: 0,
  keepBest: false,
  shards: 4,
};

export interface FinetuneProgress {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  /** Fraction of gated outputs skipped in this batch. */
  sparsity: number;
  elapsedMs: number;
}

export interface FinetuneResult {
  steps: number;
  epochs: number;
  step_ms_median: number;
  /** Null when no step was taken (e.g. the time budget ran out during calibration). */
  final_loss: number | null;
  /** Sparsity of the last training batch. */
  final_sparsity: number | null;
  calibrated: { thresholds: boolean; act_scales: boolean };
  act_scale: 'dynamic' | 'static';
  trained: string[];
  seed: number;
  /** The sparsity the thresholds were calibrated and kept near (targetSparsity, from targetBavg, or the default); null for 'none'. */
  target_sparsity: number | null;
  /** The thresholds were shifted onto the target after training (finalCalibration). */
  final_calibration: boolean;
  /** Why training ended: all steps done, the time budget, or an interruption (the abort signal). */
  stopped: 'completed' | 'time-budget' | 'interrupted';
  /** Step the run started from (non-zero when resumed from a checkpoint). */
  resumed_from_step: number;
  /** Wall time of this run, calibration and evaluations included, in milliseconds. */
  elapsed_ms: number;
  /** Evaluations on the held-out data, in step order (those before a resume included). */
  evaluations: FinetuneEvaluation[];
  /** Which model was returned: the last one, or the best evaluation's (keepBest). */
  kept: { from: 'last' | 'best'; step: number };
}

/** One evaluation of the model on the held-out data during fine-tuning. */
export interface FinetuneEvaluation {
  step: number;
  accuracy: number;
  sparsity: number;
  /** Average bitwidth of the gated layers at that sparsity. */
  bavg: number | null;
  /** The sparsity is at least the target (always true without a target): only these compete for keepBest. */
  meets_target: boolean;
}
