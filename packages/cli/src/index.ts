// The pg command line. Commands live in ./commands (one file each) and are found by oclif; this module
// exports what a program embedding pg may want: oclif's runner and the --json result types.
export { run } from '@oclif/core';
export type { ErrorEnvelope, SuccessEnvelope } from './envelope.js';
export type { ConvertJson } from './commands/convert.js';
export type { ExportJson } from './commands/export.js';
export type { FinetuneJson } from './commands/finetune.js';
export type { RunJson } from './commands/run.js';
export type { SweepJson } from './commands/sweep.js';
export type { ReportJson } from './report-format.js';
