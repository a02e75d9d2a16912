import { constantValue, producersOf, type ConstTensor, type Graph, type Node } from '../graph/index.js';
import { attrString } from '../interpreter/attributes.js';

/** Ops whose output is never negative, whatever their input. */
const NON_NEGATIVE_OUTPUT = new Set([
  'Relu',
  'Sigmoid',
  'HardSigmoid',
  'Softmax',
  'Abs',
  'Exp',
  'Softplus',
  'Shape',
  'Size',
  'ReduceL1',
  'ReduceL2',
  'ReduceSumSquare',
  'LpPool',
  'GlobalLpPool',
]);
/** Ops whose output is non-negative when their first input is (the others are shapes, indices or bounds). */
const FOLLOWS_FIRST_INPUT = new Set([
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'Reshape',
  'Flatten',
  'Transpose',
  'Squeeze',
  'Unsqueeze',
  'Identity',
  'Dropout',
  'Slice',
  'Gather',
  'Split',
  'Tile',
  'Expand',
  'DepthToSpace',
  'SpaceToDepth',
  'Cast',
  'ReduceMean',
  'ReduceMax',
  'ReduceMin',
  'ReduceSum',
  'Sqrt',
]);
/** Ops whose output is non-negative when every input is. */
const FOLLOWS_ALL_INPUTS = new Set(['Concat', 'Add', 'Sum', 'Mean', 'Min', 'Mul', 'Div']);

/** Every element of a constant is >= 0 (an empty or non-numeric constant is not known to be). */
function constantNonNegative(t: ConstTensor): boolean {
  const d = t.data();
  if (typeof d[0] === 'string' || d.length === 0) return false;
  const values = d as ArrayLike<number | bigint>;
  for (let i = 0; i < values.length; i++) if (values[i] < 0) return false;
  return true;
}

/** A Clip's bound: attribute before opset 11, optional input after (min 1, max 2); ∓Infinity when it has none. */
function clipBound(n: Node, graph: Graph, producers: Map<string, Node>, which: 'min' | 'max'): number {
  const a = n.attributes[which];
  if (a && (a.type === 'float' || a.type === 'int')) return a.value;
  const name = n.inputs[which === 'min' ? 1 : 2];
  const c = name ? constantValue(graph, name, producers) : undefined;
  return c ? Number(c.data()[0]) : which === 'min' ? -Infinity : Infinity;
}

/** A Pad's fill value: attribute `value` before opset 11, optional input 2 after; 0 when absent. */
function padValueNonNegative(n: Node, nonNegative: (name: string) => boolean): boolean {
  const a = n.attributes.value;
  if (a && a.type === 'float') return a.value >= 0;
  return !n.inputs[2] || nonNegative(n.inputs[2]);
}

/**
 * The values of a graph that are never negative, decided from the graph alone (no data): outputs of ReLU,
 * ReLU6 and other ops that cannot go below zero, and of ops that keep their input's sign (pooling, reshapes,
 * concatenation, sums and products of non-negative values, non-negative constants). Graph inputs and
 * everything else (a conv's output, BatchNormalization, HardSwish, x·Sigmoid(x)) may be negative.
 * This is the sign rule of the cost models (docs/cost-models.md, "Signs"): a layer whose input is not in this
 * set stores a sign bit with each activation code. `order` is the graph's nodes in execution order.
 */
export function nonNegativeValues(graph: Graph, order: readonly Node[]): Set<string> {
  const known = new Set<string>();
  const producers = producersOf(graph);
  const nonNegative = (name: string): boolean => {
    if (known.has(name)) return true;
    const c = constantValue(graph, name, producers);
    return c !== undefined && constantNonNegative(c);
  };
  for (const n of order) {
    const data = n.inputs.filter((i) => i !== '');
    let out = false;
    if (NON_NEGATIVE_OUTPUT.has(n.opType)) out = true;
    else if (n.opType === 'Clip') out = clipBound(n, graph, producers, 'min') >= 0 || (nonNegative(n.inputs[0]) && clipBound(n, graph, producers, 'max') >= 0);
    else if (n.opType === 'Max') out = data.some(nonNegative);
    else if (n.opType === 'Pad') out = nonNegative(n.inputs[0]) && padValueNonNegative(n, nonNegative);
    // Cubic interpolation overshoots below the smallest input; nearest and linear stay within the inputs' range.
    else if (n.opType === 'Resize' || n.opType === 'Upsample') out = nonNegative(n.inputs[0]) && attrString(n, 'mode', 'nearest') !== 'cubic';
    else if (FOLLOWS_FIRST_INPUT.has(n.opType)) out = nonNegative(n.inputs[0]);
    else if (FOLLOWS_ALL_INPUTS.has(n.opType)) out = data.length > 0 && data.every(nonNegative);
    if (out && n.domain === '') for (const o of n.outputs) if (o) known.add(o);
  }
  return known;
}
