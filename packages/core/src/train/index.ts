export * from './options.js';
export { finetune, type FinetuneHooks, type FinetuneOutput } from './finetune.js';
export { calibrateActScales, calibrateThresholds, mseOptimalClip, quantile, type CalibrationOptions } from './calibrate.js';
