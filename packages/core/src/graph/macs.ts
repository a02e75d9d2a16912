import type { Graph, Node } from './ir.js';

/** Gate rows of the recurrent layers' weights (G in W [D, G·H, F]). */
const RECURRENT_GATES: Record<string, number> = { RNN: 1, GRU: 3, LSTM: 4 };

/** Gate rows of pg's recurrent layers (gating/format.ts: PGLSTM, QLSTM, PGGRU, QGRU; graph/ does not import gating/). */
const PG_RECURRENT_GATES: Record<string, number> = { PGLSTM: 4, QLSTM: 4, PGGRU: 3, QGRU: 3 };

/** A pg recurrent layer's gate rows G (undefined for other nodes): one of its Y's elements is G pre-activations. */
export const pgRecurrentGates = (node: Node): number | undefined => (node.domain === 'org.precisiongating' ? PG_RECURRENT_GATES[node.opType] : undefined);

/** pg's recurrent layers: their output elements are counted per gate pre-activation, the unit a gate decides on. */
export const isPgRecurrentLayer = (node: Node): boolean => pgRecurrentGates(node) !== undefined;

/** ONNX's RNN, GRU and LSTM, and pg's recurrent layers. */
export const isRecurrentLayer = (node: Node): boolean => (node.opType in RECURRENT_GATES && !node.domain) || isPgRecurrentLayer(node);

/**
 * MACs one output element of a conv/linear layer costs: its reduction length. A recurrent layer's output
 * element is one unit of h_t, which costs its G gates' products with x_t and h_{t−1}: G·(F + H); pg's gated
 * form counts a pre-activation (one gate's unit) as the element: F + H.
 */
export function macsPerOutput(node: Node, graph: Graph): number {
  const w = graph.initializers.get(node.inputs[1]);
  if (!w) return 0;
  // A pre-activation of z_t costs its row of W and of R: F + H.
  if (isPgRecurrentLayer(node)) return w.dims[2] + (graph.initializers.get(node.inputs[2])?.dims[2] ?? 0);
  if (isRecurrentLayer(node)) return RECURRENT_GATES[node.opType] * (w.dims[2] + (graph.initializers.get(node.inputs[2])?.dims[2] ?? 0));
  if (node.opType.endsWith('Conv')) return w.dims.slice(1).reduce((a, b) => a * b, 1);
  // PGMatMul / QMatMul: W is [K, F].
  if (node.opType.endsWith('MatMul')) return w.dims[0];
  // Gemm: W is [K, N], or [N, K] with transB.
  const tb = node.attributes.transB;
  return tb && tb.type === 'int' && tb.value === 1 ? w.dims[1] : w.dims[0];
}
