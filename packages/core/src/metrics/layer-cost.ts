import type { Graph, Node } from '../graph/index.js';

/** Gate rows of the recurrent layers' weights (G in W [D, G·H, F]). */
const RECURRENT_GATES: Record<string, number> = { RNN: 1, GRU: 3, LSTM: 4 };

export const isRecurrentLayer = (node: Node): boolean => node.opType in RECURRENT_GATES && !node.domain;

/**
 * MACs one output element of a conv/linear layer costs: its reduction length. A recurrent layer's output
 * element is one unit of h_t, which costs its G gates' products with x_t and h_{t−1}: G·(F + H).
 */
export function macsPerOutput(node: Node, graph: Graph): number {
  const w = graph.initializers.get(node.inputs[1]);
  if (!w) return 0;
  if (isRecurrentLayer(node)) return RECURRENT_GATES[node.opType] * (w.dims[2] + (graph.initializers.get(node.inputs[2])?.dims[2] ?? 0));
  if (node.opType.endsWith('Conv')) return w.dims.slice(1).reduce((a, b) => a * b, 1);
  // Gemm: W is [K, N], or [N, K] with transB.
  const tb = node.attributes.transB;
  return tb && tb.type === 'int' && tb.value === 1 ? w.dims[1] : w.dims[0];
}

/**
 * A recurrent layer's output elements per sample: T steps × D directions × H units, from its input X
 * ([T, N, F], or [N, T, F] with layout 1) and its weights.
 */
export function recurrentOutputsPerSample(node: Node, graph: Graph, xShape: readonly number[]): number {
  const w = graph.initializers.get(node.inputs[1]);
  const r = graph.initializers.get(node.inputs[2]);
  const layout = node.attributes.layout;
  const steps = layout && layout.type === 'int' && layout.value === 1 ? xShape[1] : xShape[0];
  return w && r ? steps * w.dims[0] * r.dims[2] : 0;
}

export const COST_OPS = new Set(['Conv', 'Gemm', 'PGConv', 'PGGemm', 'QConv', 'QGemm', 'RNN', 'GRU', 'LSTM']);
