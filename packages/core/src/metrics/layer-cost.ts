import { isPgRecurrentLayer, type Graph, type Node } from '../graph/index.js';

export { isRecurrentLayer, macsPerOutput } from '../graph/index.js';

/**
 * A recurrent layer's output elements per sample: T steps × D directions × H units (pg's recurrent layers:
 * × G gates, the pre-activations their gates decide on), from its input X ([T, N, F], or [N, T, F] with
 * layout 1) and its weights.
 */
export function recurrentOutputsPerSample(node: Node, graph: Graph, xShape: readonly number[]): number {
  const w = graph.initializers.get(node.inputs[1]);
  const r = graph.initializers.get(node.inputs[2]);
  const layout = node.attributes.layout;
  const steps = layout && layout.type === 'int' && layout.value === 1 ? xShape[1] : xShape[0];
  return w && r ? steps * w.dims[0] * (isPgRecurrentLayer(node) ? r.dims[1] : r.dims[2]) : 0;
}

/** The layers priced by their MACs: Conv/Gemm, recurrent layers and pg's layers (a plain MatMul is priced with the other ops). */
export const COST_OPS = new Set([
  'Conv',
  'Gemm',
  'PGConv',
  'PGGemm',
  'PGResidualConv',
  'PGResidualGemm',
  'QConv',
  'QGemm',
  'PGMatMul',
  'QMatMul',
  'RNN',
  'GRU',
  'LSTM',
  'PGLSTM',
  'QLSTM',
  'PGGRU',
  'QGRU',
]);
