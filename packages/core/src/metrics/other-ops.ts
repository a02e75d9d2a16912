import type { Node } from '../graph/index.js';
import { attrInts } from '../runtime/attributes.js';
import { COST_OPS } from './layer-cost.js';
import type { OtherOpCount } from './report-types.js';

/** Ops that only move, reshape or describe data: no arithmetic, 0 operations. */
const DATA_MOVEMENT = new Set([
  'Cast', 'Concat', 'Constant', 'ConstantOfShape', 'DepthToSpace', 'Dropout', 'Expand', 'Flatten', 'Gather', 'GatherElements',
  'Identity', 'Pad', 'Range', 'Reshape', 'Resize', 'Shape', 'Size', 'Slice', 'SpaceToDepth', 'Split', 'Squeeze', 'Tile',
  'Transpose', 'Unsqueeze', 'Upsample',
]);
/** Windowed pooling: k_h·k_w operations (compares or adds) per output element. */
const WINDOW_POOLS = new Set(['MaxPool', 'AveragePool', 'LpPool']);
/** Reductions: one operation per input element. */
const REDUCTIONS = new Set([
  'GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool', 'ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd',
  'ReduceL1', 'ReduceL2', 'ReduceSumSquare', 'ReduceLogSumExp', 'ArgMax', 'ArgMin',
]);
/** Variadic element-wise ops: (inputs − 1) operations per output element. */
const VARIADIC = new Set(['Sum', 'Max', 'Min', 'Mean']);
/** Normalisations: a scale and a shift per element (BatchNormalization that was not folded). */
const NORMALIZATIONS = new Set(['BatchNormalization', 'InstanceNormalization', 'LayerNormalization']);
/** Softmax-like: exp, the sum, the division per element. */
const SOFTMAX = new Set(['Softmax', 'LogSoftmax']);

const elements = (shape: readonly number[] | undefined): number => (shape ? shape.slice(1).reduce((a, d) => a * d, 1) : 0);

/**
 * Operations per sample of one node that is not a Conv/Gemm layer (docs/cost-models.md, "Other ops"), from
 * the shapes of its values at batch 1: output elements × the work per element (element-wise arithmetic and
 * activations 1, normalisations 2, softmax 3, variadic ops inputs − 1, windowed pooling k_h·k_w, MatMul K),
 * input elements for reductions, 0 for data movement. Conv/Gemm layers (and pg's) are priced as layers: 0 here.
 */
export function nodeOps(node: Node, shapes: ReadonlyMap<string, readonly number[]>): number {
  if (COST_OPS.has(node.opType) || DATA_MOVEMENT.has(node.opType)) return 0;
  const out = elements(shapes.get(node.outputs[0]));
  if (WINDOW_POOLS.has(node.opType)) return out * (attrInts(node, 'kernel_shape') ?? []).reduce((a, k) => a * k, 1);
  if (REDUCTIONS.has(node.opType)) return elements(shapes.get(node.inputs[0]));
  if (VARIADIC.has(node.opType)) return out * Math.max(node.inputs.filter((i) => i !== '').length - 1, 1);
  if (NORMALIZATIONS.has(node.opType)) return out * 2;
  if (SOFTMAX.has(node.opType)) return out * 3;
  if (node.opType === 'MatMul') {
    const a = shapes.get(node.inputs[0]);
    return out * (a ? a[a.length - 1] : 0);
  }
  return out;
}

/** The other ops of a graph, by op type (in order of first appearance), with their operations per sample. */
export function otherOpCounts(nodes: readonly Node[], shapes: ReadonlyMap<string, readonly number[]>): OtherOpCount[] {
  const byOp = new Map<string, OtherOpCount>();
  for (const node of nodes) {
    if (COST_OPS.has(node.opType)) continue;
    const key = node.domain ? `${node.domain}.${node.opType}` : node.opType;
    const c = byOp.get(key) ?? { op: key, nodes: 0, ops: 0 };
    c.nodes++;
    c.ops += nodeOps(node, shapes);
    byOp.set(key, c);
  }
  return [...byOp.values()];
}
