import type { ConstTensor, Graph, Node } from '../graph/index.js';
import { normaliseDomain } from './registry.js';

/**
 * Ops that exporters write out as several nodes before the opset that has them: PyTorch's LayerNorm before
 * opset 17 (ReduceMean, Sub, Pow 2, ReduceMean, Add ε, Sqrt, Div, Mul γ, Add β) and GELU before 20
 * (0.5·x·(1 + Erf(x/√2)) in a few arrangements). The executor runs each as the one kernel (the op's kernel
 * with its written-out gradient, a third of autodiff's kernels): the same function, rounded as the op rounds
 * it, which the op's declaration documents. These find them; nothing here reads tensors but constants.
 */

/** The graph's look-ups the rules read. */
export interface WrittenGraph {
  graph: Graph;
  /** The nodes reading each value. */
  readers: Map<string, Node[]>;
  /** The node writing each value. */
  producers: Map<string, Node>;
  /** Values that must stay visible (graph outputs): never inside a pattern. */
  keep: Set<string>;
}

export type WrittenOp =
  | { kind: 'layer-norm'; nodes: Node[]; input: string; output: string; scale: string; bias: string; epsilon: number; axes: number[] }
  | { kind: 'gelu'; nodes: Node[]; input: string; output: string };

const isDefault = (n: Node) => normaliseDomain(n.domain) === '';

/** A scalar constant (initializer or Constant node), as a number. */
function scalar(g: WrittenGraph, name: string): number | undefined {
  let t: ConstTensor | undefined = g.graph.initializers.get(name);
  if (!t) {
    const p = g.producers.get(name);
    const v = p && p.opType === 'Constant' && isDefault(p) ? p.attributes.value : undefined;
    if (v?.type === 'tensor') t = v.value;
    else if (p && (v?.type === 'float' || v?.type === 'int')) return v.value;
  }
  if (!t || t.dims.reduce((a, b) => a * b, 1) !== 1 || (t.dtype !== 'float32' && t.dtype !== 'float64')) return undefined;
  return Number((t.data() as ArrayLike<number>)[0]);
}

const near = (v: number | undefined, want: number) => v !== undefined && Math.abs(v - want) <= 1e-4 * Math.abs(want);

/** The one reader of `value` with `opType`, when that reader is its only one and the value is not kept. */
function only(g: WrittenGraph, value: string, opType: string): Node | undefined {
  const users = g.readers.get(value) ?? [];
  return users.length === 1 && users[0].opType === opType && isDefault(users[0]) && !g.keep.has(value) ? users[0] : undefined;
}

/** The operand of a binary `node` other than `value`. */
const other = (node: Node, value: string) => (node.inputs[0] === value ? node.inputs[1] : node.inputs[0]);

/** ReduceMean's axes from its attribute (before 18) or a constant input (from 18), with keepdims. */
function meanAxes(g: WrittenGraph, node: Node): number[] | undefined {
  const keep = node.attributes.keepdims;
  if (keep && keep.type === 'int' && keep.value !== 1) return undefined;
  const a = node.attributes.axes;
  if (a?.type === 'ints') return a.value;
  const t = node.inputs[1] ? g.graph.initializers.get(node.inputs[1]) : undefined;
  return t ? Array.from(t.data() as ArrayLike<number | bigint>, Number) : undefined;
}

/** PyTorch's LayerNorm written out, starting at its first ReduceMean `node`. */
function layerNorm(node: Node, g: WrittenGraph): WrittenOp | undefined {
  if (node.opType !== 'ReduceMean' || !isDefault(node)) return undefined;
  const x = node.inputs[0];
  const axes = meanAxes(g, node);
  const sub = only(g, node.outputs[0], 'Sub');
  if (!axes || !sub || sub.inputs[0] !== x || sub.inputs[1] !== node.outputs[0]) return undefined;
  const centred = sub.outputs[0];
  const readers = g.readers.get(centred) ?? [];
  const pow = readers.find((n) => n.opType === 'Pow' && n.inputs[0] === centred && near(scalar(g, n.inputs[1]), 2));
  const div = readers.find((n) => n.opType === 'Div' && n.inputs[0] === centred);
  if (readers.length !== 2 || !pow || !div || g.keep.has(centred)) return undefined;
  const variance = only(g, pow.outputs[0], 'ReduceMean');
  const plusEps = variance && meanAxes(g, variance)?.join() === axes.join() ? only(g, variance.outputs[0], 'Add') : undefined;
  const epsilon = plusEps && scalar(g, other(plusEps, variance!.outputs[0]));
  const sqrt = plusEps && only(g, plusEps.outputs[0], 'Sqrt');
  if (epsilon === undefined || !sqrt || div.inputs[1] !== sqrt.outputs[0]) return undefined;
  const mul = only(g, div.outputs[0], 'Mul');
  const add = mul && only(g, mul.outputs[0], 'Add');
  if (!mul || !add) return undefined;
  const scale = other(mul, div.outputs[0]);
  const bias = other(add, mul.outputs[0]);
  if (!g.graph.initializers.has(scale) || !g.graph.initializers.has(bias)) return undefined;
  return { kind: 'layer-norm', nodes: [node, sub, pow, variance!, plusEps!, sqrt, div, mul, add], input: x, output: add.outputs[0], scale, bias, epsilon, axes };
}

/**
 * GELU written with Erf, starting at the node that scales x for Erf: x/√2 (or x·(1/√2)) → Erf → + 1, times x
 * then times 0.5 (PyTorch), or times x·0.5 (Hugging Face). x's readers are exactly the pattern's two.
 */
function gelu(node: Node, g: WrittenGraph): WrittenOp | undefined {
  const x = node.inputs[0];
  const byRoot2 = (node.opType === 'Div' && near(scalar(g, node.inputs[1]), Math.SQRT2)) || (node.opType === 'Mul' && near(scalar(g, other(node, x)), Math.SQRT1_2));
  if (!byRoot2 || !isDefault(node) || g.keep.has(x)) return undefined;
  const readers = g.readers.get(x) ?? [];
  const second = readers.find((n) => n !== node && n.opType === 'Mul' && isDefault(n));
  const erf = only(g, node.outputs[0], 'Erf');
  const plus1 = erf && only(g, erf.outputs[0], 'Add');
  if (readers.length !== 2 || !second || !plus1 || !near(scalar(g, other(plus1, erf!.outputs[0])), 1)) return undefined;
  if (other(second, x) === plus1.outputs[0]) {
    const half = only(g, second.outputs[0], 'Mul');
    return half && near(scalar(g, other(half, second.outputs[0])), 0.5) ? { kind: 'gelu', nodes: [node, erf!, plus1, second, half], input: x, output: half.outputs[0] } : undefined;
  }
  if (!near(scalar(g, other(second, x)), 0.5)) return undefined;
  const product = only(g, plus1.outputs[0], 'Mul');
  return product && other(product, plus1.outputs[0]) === second.outputs[0] && (g.readers.get(second.outputs[0]) ?? []).length === 1 && !g.keep.has(second.outputs[0])
    ? { kind: 'gelu', nodes: [second, node, erf!, plus1, product], input: x, output: product.outputs[0] }
    : undefined;
}

/** The written-out op that starts at `node` (its first node in `order`), if any. */
export function writtenOp(node: Node, g: WrittenGraph): WrittenOp | undefined {
  return layerNorm(node, g) ?? gelu(node, g);
}
