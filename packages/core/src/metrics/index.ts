export * from './report-types.js';
export { reportModel, type ReportOptions } from './report.js';
export { evaluate } from './report.js';
export { macsPerOutput, COST_OPS } from './layer-cost.js';
export { nodeOps, otherOpCounts } from './other-ops.js';
export { maxRelativeDifference } from './agreement.js';
export { parseGate, checkGates, gateCostModel, GATE_FIELDS, COST_GATE_FIELDS, type Gate, type GateOp } from './gates.js';
export { layerSensitivity, withThreshold, type SensitivityOptions } from './sensitivity.js';
export { nonNegativeValues } from './input-sign.js';
