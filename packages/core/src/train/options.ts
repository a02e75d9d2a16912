/** Options of `pg finetune`; defaults in FINETUNE_DEFAULTS. */
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
  trainWeights: boolean;
  /** Calibrate each channel's threshold to this fraction of skipped updates before training, and keep it near there. */
  targetSparsity?: number;
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
  /**
   * Threads computing a step's gradients (data-parallel, the main thread included); default: one per
   * core, at most `shards`. Does not change the result.
   */
  workers?: number;
  /** Micro-shards per batch, which the step's loss is defined over (see train/parallel/shard-loss.ts). */
  shards: number;
}

export const FINETUNE_DEFAULTS: FinetuneOptions = {
  epochs: 1,
  batchSize: 128,
  lr: 1e-3,
  weightLr: 1e-3,
  trainWeights: false,
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
  final_loss: number;
  /** Sparsity of the last training batch. */
  final_sparsity: number;
  calibrated: { thresholds: boolean; act_scales: boolean };
  act_scale: 'dynamic' | 'static';
  trained: string[];
  seed: number;
}
