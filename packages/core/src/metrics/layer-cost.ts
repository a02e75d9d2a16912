export { macsPerOutput } from '../graph/index.js';

export const COST_OPS = new Set(['Conv', 'Gemm', 'PGConv', 'PGGemm', 'PGResidualConv', 'PGResidualGemm', 'QConv', 'QGemm']);
