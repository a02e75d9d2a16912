export * from './options.js';
export { finetune, lrFactor, type FinetuneHooks, type FinetuneOutput } from './finetune.js';
export { calibrate, calibrateActScales, quantile, gapThreshold, type CalibrateOptions, type CalibrationOptions } from './calibrate.js';
export { resolveTargetSparsity } from './target.js';
export { finalCalibrationWithTarget } from './finetune/plan.js';
export { shiftThresholdsToTarget } from './threshold-shift.js';
export { bestEvaluation } from './best-evaluation.js';
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  checkpointFiles,
  checkpointPathFor,
  modelFingerprint,
  readCheckpoint,
  writeCheckpoint,
  type CheckpointOptions,
  type FinetuneCheckpoint,
  type TensorValues,
} from './checkpoint.js';
export type { AdamState } from './tfjs-adam.js';
