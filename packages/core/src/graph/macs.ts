import type { Graph, Node } from './ir.js';

/** MACs one output element of a conv/linear layer costs: its reduction length. */
export function macsPerOutput(node: Node, graph: Graph): number {
  const w = graph.initializers.get(node.inputs[1]);
  if (!w) return 0;
  if (node.opType.endsWith('Conv')) return w.dims.slice(1).reduce((a, b) => a * b, 1);
  // PGMatMul / QMatMul: W is [K, F].
  if (node.opType.endsWith('MatMul')) return w.dims[0];
  // Gemm: W is [K, N], or [N, K] with transB.
  const tb = node.attributes.transB;
  return tb && tb.type === 'int' && tb.value === 1 ? w.dims[1] : w.dims[0];
}
