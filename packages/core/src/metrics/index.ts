export * from './report-types.js';
export { reportModel, type ReportOptions } from './report.js';
export { evaluate } from './report.js';
export { macsPerOutput, COST_OPS } from './layer-cost.js';
export { maxRelativeDifference } from './agreement.js';
