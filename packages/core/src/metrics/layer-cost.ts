export { macsPerOutput } from '../graph/index.js';

/** The layers priced by their MACs: Conv/Gemm and pg's layers (a plain MatMul is priced with the other ops). */
export const COST_OPS = new Set(['Conv', 'Gemm', 'PGConv', 'PGGemm', 'PGResidualConv', 'PGResidualGemm', 'QConv', 'QGemm', 'PGMatMul', 'QMatMul']);
