import { Flags, type Interfaces } from '@oclif/core';
import { FINETUNE_DEFAULTS as D, type FinetuneOptions } from '@pg/core';
import { countFlag, inHelpGroup, numberFlag, renamedFlag } from './flags.js';

/** How samples are drawn from --data for calibration: `pg convert --data`, and the start of every fine-tune. */
export const calibrationFlags = inHelpGroup('CALIBRATION', {
  'batch-size': countFlag({ default: D.batchSize, helpValue: 'N', summary: 'Samples per batch (a training step, or a calibration batch).' }),
  'calibration-batches': countFlag({
    default: D.calibrationBatches,
    helpValue: 'N',
    summary: 'Batches used to calibrate activation scales (and thresholds, when fine-tuning to a target).',
  }),
  seed: numberFlag({ integer: true, min: 0 })({
    default: D.seed,
    helpValue: 'N',
    summary: 'Seed of shuffling and calibration samples: the same seed gives the same result. Default: 0.',
  }),
});

/**
 * The fine-tuning recipe: `pg finetune` and every point of `pg sweep` take these, and trainingOptions maps
 * them to core's options for both. Their defaults are core's (FINETUNE_DEFAULTS, and planFinetune for the
 * final calibration), so the bare command is the recipe.
 */
export const trainingFlags = inHelpGroup('TRAINING', {
  epochs: numberFlag({ above: 0 })({ default: D.epochs, helpValue: 'E', summary: 'Passes over the data (fractions allowed, e.g. 0.25).' }),
  'max-steps': countFlag({ helpValue: 'N', summary: 'Stop after N steps, whatever --epochs says.' }),
  steps: renamedFlag('--max-steps'),
  ...calibrationFlags,
  lr: numberFlag({ above: 0 })({ default: D.lr, helpValue: 'RATE', summary: 'Learning rate of thresholds and activation scales (Adam).' }),
  'train-weights': Flags.boolean({
    default: D.trainWeights,
    allowNo: true,
    summary: "Train the weights and biases too (the default); --no-train-weights trains only thresholds and scales (the paper's setting).",
  }),
  'weight-lr': numberFlag({ min: 0 })({ default: D.weightLr, helpValue: 'RATE', summary: 'Learning rate of the weights with --train-weights (Adam; 0 freezes them).' }),
  'lr-schedule': Flags.option({ options: ['cosine', 'constant'] as const, default: D.lrSchedule })({
    summary: 'Learning rates over the run: cosine decay after a 5% linear warm-up, or constant.',
  }),
  'final-calibration': Flags.boolean({
    allowNo: true,
    summary: "After training, shift each layer's thresholds so its sparsity lands on the target (training drifts it). Default: whenever there is a target.",
  }),
  distill: Flags.boolean({
    default: D.distill,
    allowNo: true,
    summary: "Also learn from the float model's predictions (KL divergence from the gated model's float twin).",
  }),
  'gate-target': numberFlag()({ default: D.gateTarget, helpValue: 'DELTA', summary: 'Gating target δ of the penalty (larger: more outputs gated off). Default: 0.' }),
  penalty: numberFlag({ min: 0 })({ default: D.penalty, helpValue: 'SIGMA', summary: 'Weight σ of the gate penalty σ·Σ‖Δ − δ‖.' }),
  'sparsity-weight': numberFlag({ min: 0 })({ default: D.sparsityWeight, helpValue: 'W', summary: 'Weight of the term that keeps sparsity near the target sparsity.' }),
  alpha: numberFlag({ above: 0 })({ default: D.alpha, helpValue: 'ALPHA', summary: 'Slope α of the sigmoid surrogate of the gate.' }),
  'sparse-backprop': Flags.boolean({ default: D.sparseBackprop, summary: 'Zero the surrogate gradient where the gate is off.' }),
  recalibrate: Flags.boolean({ default: D.recalibrate, summary: 'Recalibrate static activation scales even if already calibrated.' }),
  workers: countFlag({
    helpValue: 'N',
    summary: 'Threads computing gradients (data-parallel; the result does not depend on it). Default: one per core, at most --shards.',
  }),
  shards: countFlag({ default: D.shards, helpValue: 'N', summary: 'Micro-shards per batch that the loss is defined over (at most this many workers are used).' }),
});

/** What the training flags hold once parsed. */
export type TrainingFlagValues = Interfaces.InferredFlags<typeof trainingFlags>;

/** The part of core's finetune options that the training flags give. */
export type TrainingOptions = Pick<
  FinetuneOptions,
  | 'epochs'
  | 'maxSteps'
  | 'batchSize'
  | 'calibrationBatches'
  | 'seed'
  | 'lr'
  | 'trainWeights'
  | 'weightLr'
  | 'lrSchedule'
  | 'finalCalibration'
  | 'distill'
  | 'gateTarget'
  | 'penalty'
  | 'sparsityWeight'
  | 'alpha'
  | 'sparseBackprop'
  | 'recalibrate'
  | 'workers'
  | 'shards'
>;

/** The training flags as core's finetune options: the one mapping, used by `pg finetune` and `pg sweep`. */
export function trainingOptions(flags: TrainingFlagValues): TrainingOptions {
  return {
    epochs: flags.epochs,
    maxSteps: flags['max-steps'],
    batchSize: flags['batch-size'],
    calibrationBatches: flags['calibration-batches'],
    seed: flags.seed,
    lr: flags.lr,
    trainWeights: flags['train-weights'],
    weightLr: flags['weight-lr'],
    lrSchedule: flags['lr-schedule'],
    finalCalibration: flags['final-calibration'],
    distill: flags.distill,
    gateTarget: flags['gate-target'],
    penalty: flags.penalty,
    sparsityWeight: flags['sparsity-weight'],
    alpha: flags.alpha,
    sparseBackprop: flags['sparse-backprop'],
    recalibrate: flags.recalibrate,
    workers: flags.workers,
    shards: flags.shards,
  };
}
