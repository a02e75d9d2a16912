import { constantValue, consumersOf, producersOf, type ConstTensor, type Graph, type Node } from '../graph/index.js';
import { writtenOp } from '../interpreter/written-ops.js';

/**
 * The linear layers of a transformer as exporters write them, and what follows them. PyTorch writes
 * nn.Linear on token activations ([N, T, K]) as a MatMul by the transposed weight, a constant [K, F], and an
 * Add of the bias [F]; its GELU before opset 20 as 0.5·x·(1 + Erf(x/√2)). These rules find both, and tell
 * the attention's projections (whose products meet in the attention's MatMuls) from the feed-forward layers.
 */

/** What the rules read of the graph. */
export interface TokenGraph {
  graph: Graph;
  consumers: Map<string, Node[]>;
  producers: Map<string, Node>;
  /** The value of `name` when the file fixes it (an initializer, a Constant, an Identity of either). */
  constant: (name: string) => ConstTensor | undefined;
}

/** A linear layer on tokens: a MatMul by a constant weight and, when there is one, the Add of its bias. */
export interface TokenLinear {
  /** Input 0: the tokens [N, ..., K]; input 1: the weight [K, F], an initializer. */
  matmul: Node;
  /** The Add that alone reads the MatMul's product and adds an initializer [F] to it. */
  biasAdd?: Node;
  bias?: string;
  /** The layer's output: the bias Add's, or the MatMul's when there is none. */
  output: string;
}

const isDefault = (n: Node) => n.domain === '' || n.domain === 'ai.onnx';

/** The look-ups of `graph` the rules read. */
export function tokenGraphOf(graph: Graph): TokenGraph {
  const producers = producersOf(graph);
  return { graph, consumers: consumersOf(graph), producers, constant: (name) => constantValue(graph, name, producers) };
}

/** Every linear layer on tokens in the graph, by its MatMul. */
export function tokenLayers(g: TokenGraph): Map<Node, TokenLinear> {
  const found = new Map<Node, TokenLinear>();
  for (const n of g.graph.nodes) {
    const layer = tokenLinear(n, g);
    if (layer) found.set(n, layer);
  }
  return found;
}

/** `node` as a linear layer on tokens, when it is a MatMul whose right operand is a 2-D initializer. */
export function tokenLinear(node: Node, g: TokenGraph): TokenLinear | undefined {
  if (node.opType !== 'MatMul' || !isDefault(node)) return undefined;
  const w = g.graph.initializers.get(node.inputs[1]);
  if (!w || w.dims.length !== 2 || w.dtype !== 'float32' || g.constant(node.inputs[0])) return undefined;
  const product = node.outputs[0];
  const readers = g.consumers.get(product) ?? [];
  const add = readers.length === 1 && readers[0].opType === 'Add' && isDefault(readers[0]) && !g.graph.outputs.some((o) => o.name === product) ? readers[0] : undefined;
  const bias = add?.inputs.find((i) => i !== product);
  const b = bias ? g.graph.initializers.get(bias) : undefined;
  if (!add || !bias || !b || b.dims.length !== 1 || b.dims[0] !== w.dims[1] || b.dtype !== 'float32') return { matmul: node, output: product };
  return { matmul: node, biasAdd: add, bias, output: add.outputs[0] };
}

/**
 * The node whose output is GELU(x), when the readers of x are exactly a GELU's: the Gelu op (opset 20), or
 * GELU written with Erf in one of the arrangements the executor runs as one kernel (interpreter/written-ops.ts:
 * PyTorch's x·(1 + Erf(x/√2))·0.5, Hugging Face's x·0.5 first; x/√2 or x·(1/√2)).
 */
export function geluOutput(x: string, g: TokenGraph): Node | undefined {
  const readers = g.consumers.get(x) ?? [];
  if (readers.length === 1 && readers[0].opType === 'Gelu' && isDefault(readers[0])) return readers[0];
  const written = { graph: g.graph, readers: g.consumers, producers: g.producers, keep: new Set(g.graph.outputs.map((o) => o.name)) };
  for (const r of readers) {
    const op = writtenOp(r, written);
    if (op?.kind === 'gelu' && op.input === x) return op.nodes.find((n) => n.outputs[0] === op.output);
  }
  return undefined;
}

/** Ops between a projection and the attention's MatMuls: heads split and merged, scaled by a constant. */
const HEAD_MOVES = new Set(['Reshape', 'Transpose', 'Gather', 'Split', 'Slice', 'Squeeze', 'Unsqueeze', 'Identity', 'Mul', 'Div']);

/** A MatMul of two activations (attention scores Q·Kᵀ, or the weights times V). */
const isActivationMatMul = (n: Node, g: TokenGraph) => n.opType === 'MatMul' && isDefault(n) && n.inputs.every((i) => !g.constant(i));

/** Whether `n` only moves `value` (or scales it by a constant). */
function moves(n: Node, value: string, g: TokenGraph): boolean {
  if (!HEAD_MOVES.has(n.opType) || !isDefault(n)) return false;
  if (n.opType === 'Mul' || n.opType === 'Div') return n.inputs.every((i) => i === value || !!g.constant(i));
  return n.inputs[0] === value;
}

/**
 * A token layer's place in an attention block: 'projection' when its output reaches an activation MatMul
 * through head moves only (the query, key and value projections), 'output' when its input comes from one
 * that way (the projection after the heads are merged), undefined otherwise (a feed-forward layer).
 */
export function attentionRole(layer: TokenLinear, g: TokenGraph): 'projection' | 'output' | undefined {
  const seen = new Set<string>();
  const forward = [layer.output];
  while (forward.length) {
    const value = forward.pop()!;
    if (seen.has(value) || seen.size > 64) continue;
    seen.add(value);
    for (const n of g.consumers.get(value) ?? []) {
      if (isActivationMatMul(n, g)) return 'projection';
      if (moves(n, value, g)) forward.push(...n.outputs.filter(Boolean));
    }
  }
  for (let value = layer.matmul.inputs[0], hops = 0; hops < 16; hops++) {
    const p = g.producers.get(value);
    if (!p) return undefined;
    if (isActivationMatMul(p, g)) return 'output';
    if (!moves(p, p.inputs[0], g)) return undefined;
    value = p.inputs[0];
  }
  return undefined;
}
