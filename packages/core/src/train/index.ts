export * from './options.js';
export { finetune, lrFactor, type FinetuneHooks, type FinetuneOutput } from './finetune.js';
export { calibrate, calibrateActScales, quantile, gapThreshold, type CalibrateOptions, type CalibrationOptions } from './calibrate.js';
