import type { ConstTensor, Graph, Node } from '../graph/index.js';

/** Where a conv/linear layer stands, as far as gating is concerned. */
export type Placement =
  | { role: 'gate'; reason: string }
  | { role: 'quantize'; reason: string; firstLayer?: boolean }
  | { role: 'float'; reason: string };

export interface PlacementOptions {
  /** Node names to gate even where the rules would not (still must be Conv/Gemm). */
  include: Set<string>;
  /** Node names to leave untouched (float). */
  exclude: Set<string>;
  /** Gate depthwise convolutions too (off by default: they are quantized statically). */
  gateDepthwise: boolean;
  /**
   * Quantize the first layer (the layers reading the model input) statically instead of keeping it float,
   * so that the whole path from the input to every gate is integer arithmetic (pg convert --first-layer-bits).
   */
  quantizeFirstLayer?: boolean;
}

export const LINEAR_OPS = new Set(['Conv', 'Gemm']);
/**
 * Activations whose zero boundary makes a small prediction safe to leave at low precision. HardSwish (and
 * Swish/SiLU below) count: like ReLU they map negative inputs to (near) zero, |f(x)| <= 0.375 for x < 0.
 */
const RELU_LIKE = new Set(['Relu', 'Clip', 'HardSwish']);
/** Ops that pass a value through unchanged in the sense of gating (the reference compares before BN). */
const PASS_THROUGH = new Set(['BatchNormalization']);

export function consumersOf(graph: Graph): Map<string, Node[]> {
  const m = new Map<string, Node[]>();
  for (const n of graph.nodes) for (const i of n.inputs) if (i) m.set(i, [...(m.get(i) ?? []), n]);
  return m;
}

function isReluLike(n: Node, graph: Graph): boolean {
  if (!RELU_LIKE.has(n.opType)) return false;
  if (n.opType !== 'Clip') return true;
  // Clip counts when its lower bound is 0 (ReLU6): attribute before opset 11, input after.
  const a = n.attributes.min;
  if (a && (a.type === 'float' || a.type === 'int')) return a.value === 0;
  const lo = n.inputs[1] ? (graph.initializers.get(n.inputs[1]) ?? constantNodeValue(n.inputs[1], graph)) : undefined;
  return lo !== undefined && Number((lo.data() as Float32Array)[0]) === 0;
}

/**
 * The Mul of a Swish written as ops, x * Sigmoid(x) (PyTorch's SiLU) or x * HardSigmoid(x) (HardSwish
 * before opset 14), when `users` (the consumers of x) are exactly those two nodes.
 */
function swishMul(x: string, users: Node[]): Node | undefined {
  if (users.length !== 2) return undefined;
  const gate = users.find((u) => (u.opType === 'Sigmoid' || u.opType === 'HardSigmoid') && u.inputs[0] === x);
  const mul = users.find((u) => u.opType === 'Mul');
  if (!gate || !mul || gate.opType === 'HardSigmoid' && !isHardSwishGate(gate)) return undefined;
  const operands = new Set(mul.inputs);
  return operands.has(x) && operands.has(gate.outputs[0]) ? mul : undefined;
}

/** HardSigmoid with PyTorch's hardswish constants (alpha 1/6, beta 0.5): zero below -3. */
function isHardSwishGate(n: Node): boolean {
  const a = n.attributes.alpha;
  const b = n.attributes.beta;
  return a?.type === 'float' && Math.abs(a.value - 1 / 6) < 1e-6 && b?.type === 'float' && Math.abs(b.value - 0.5) < 1e-6;
}

/** The tensor of a Constant node producing `name` (PyTorch exports ReLU6's bounds that way). */
export function constantNodeValue(name: string, graph: Graph): ConstTensor | undefined {
  const c = graph.nodes.find((n) => n.opType === 'Constant' && n.domain === '' && n.outputs[0] === name);
  const v = c?.attributes.value;
  return v && v.type === 'tensor' ? v.value : undefined;
}

/** What follows a layer's output: the op it feeds, after stepping over BatchNormalization. */
function successor(node: Node, graph: Graph, consumers: Map<string, Node[]>): { next?: Node; swish?: string; fanOut: number; graphOutput: boolean } {
  let out = node.outputs[0];
  for (;;) {
    const users = consumers.get(out) ?? [];
    const graphOutput = graph.outputs.some((o) => o.name === out);
    if (users.length === 1 && PASS_THROUGH.has(users[0].opType) && !graphOutput) {
      out = users[0].outputs[0];
      continue;
    }
    const mul = graphOutput ? undefined : swishMul(out, users);
    if (mul) return { next: mul, swish: users.find((u) => u !== mul)!.opType, fanOut: users.length, graphOutput };
    return { next: users.length === 1 ? users[0] : undefined, fanOut: users.length, graphOutput };
  }
}

function isDepthwise(node: Node, graph: Graph): boolean {
  const g = node.attributes.group;
  const group = g && g.type === 'int' ? g.value : 1;
  const w = graph.initializers.get(node.inputs[1]);
  return group > 1 && w !== undefined && w.dims[1] === 1;
}

/**
 * Decides for every Conv/Gemm whether it is gated, quantized statically, or left float, following the
 * method: gate layers whose output feeds (through BN) a ReLU-like activation; keep the first layer (it
 * reads the raw input) and the classifier (it produces a graph output) float; quantize the other layers
 * statically, since they sit between gated ones.
 */
export function placeLayers(graph: Graph, opts: PlacementOptions): Map<Node, Placement> {
  const consumers = consumersOf(graph);
  const graphInputs = new Set(graph.inputs.map((i) => i.name));
  const result = new Map<Node, Placement>();
  for (const node of graph.nodes) {
    if (!LINEAR_OPS.has(node.opType) || node.domain !== '') continue;
    const { next, swish, fanOut, graphOutput } = successor(node, graph, consumers);
    const feedsRelu = next !== undefined && (swish !== undefined || isReluLike(next, graph));
    if (opts.exclude.has(node.name)) {
      result.set(node, { role: 'float', reason: 'excluded by --exclude' });
    } else if (opts.include.has(node.name)) {
      result.set(node, { role: 'gate', reason: 'included by --include' });
    } else if (graphInputs.has(node.inputs[0])) {
      result.set(node, opts.quantizeFirstLayer
        ? { role: 'quantize', firstLayer: true, reason: 'first layer: reads the model input, quantized statically (--first-layer-bits)' }
        : { role: 'float', reason: 'first layer: reads the model input, kept float' });
    } else if (graphOutput || (fanOut === 0 && !next)) {
      result.set(node, { role: 'float', reason: 'classifier: produces a model output, kept float' });
    } else if (node.opType === 'Gemm' && !feedsRelu) {
      result.set(node, { role: 'float', reason: 'classifier head: a linear layer not followed by a ReLU, kept float' });
    } else if (isDepthwise(node, graph) && !opts.gateDepthwise) {
      result.set(node, { role: 'quantize', reason: 'depthwise conv: quantized statically (gate it with --gate-depthwise)' });
    } else if (feedsRelu) {
      const activation = swish !== undefined ? `x * ${swish}(x) (Swish, ReLU-like)` : `${next!.opType}${next!.opType === 'Relu' ? '' : ' (ReLU-like)'}`;
      result.set(node, { role: 'gate', reason: `output feeds ${activation}: gated` });
    } else if (next?.opType === 'Add' || next?.opType === 'Sum') {
      result.set(node, { role: 'quantize', reason: 'output goes into a residual Add before any activation: quantized statically, not gated' });
    } else {
      result.set(node, { role: 'quantize', reason: `output feeds ${next ? next.opType : `${fanOut} ops`}, not a ReLU: quantized statically, not gated` });
    }
  }
  return result;
}
