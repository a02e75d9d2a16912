import { constantValue, isRecurrentLayer, macsPerOutput, type BatchNormFold, type ConstTensor, type Graph, type Node } from '../graph/index.js';
import { PG_RECURRENT_FORMS, type ConversionMode } from './format.js';
import { attentionRole, geluOutput, tokenGraphOf, tokenLayers, type TokenGraph, type TokenLinear } from './token-layers.js';

/** Where a conv/linear layer stands, as far as gating is concerned. */
export type Placement = { role: 'gate'; reason: string; residual?: ResidualGate } | { role: 'quantize'; reason: string; firstLayer?: boolean } | { role: 'float'; reason: string };

/** A layer gated on the sum with a residual: its output enters `add`, whose other operand `offset` joins the gate. */
export interface ResidualGate {
  add: string;
  offset: string;
}

export interface PlacementOptions {
  /** Node names to gate even where the rules would not (still must be a layer: Conv, Gemm, a token MatMul). */
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
  /** 'static': the layers the rules gate are quantized statically instead (the uniform-quantization baseline). */
  mode?: ConversionMode;
  /**
   * Gate a layer whose output enters a residual Add that feeds a ReLU-like activation on the sum (pg convert
   * --gate-residual); needs `valueShape` to check that the Add does not broadcast.
   */
  gateResidual?: boolean;
  /** The shape of a value (batch included), where known: the residual rule's no-broadcasting check. */
  valueShape?: (name: string) => readonly number[] | undefined;
}

export const LINEAR_OPS = new Set(['Conv', 'Gemm']);
/**
 * Activations whose zero boundary makes a small prediction safe to leave at low precision. HardSwish, GELU
 * (and Swish/SiLU below, GELU written with Erf) count: like ReLU they map negative inputs to (near) zero,
 * |f(x)| <= 0.375 for x < 0 (GELU: <= 0.17).
 */
const RELU_LIKE = new Set(['Relu', 'Clip', 'HardSwish', 'Gelu']);
/** Inference no-ops between a layer and its activation. */
const NO_OPS = new Set(['Identity', 'Dropout']);
/** Ops that move, reshape or retype their first input without computing on it. */
const DATA_MOVEMENT = new Set([...NO_OPS, 'Cast', 'Flatten', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Pad', 'Slice', 'Expand', 'Resize', 'Upsample']);
/** Element-wise arithmetic: a fixed affine map of one operand when the other is a constant. */
const AFFINE = new Set(['Sub', 'Div', 'Mul', 'Add']);
/** What may stand between the model input and the first layer: data movement and fixed normalisation. */
const INPUT_PREPARATION = new Set([...DATA_MOVEMENT, 'BatchNormalization']);
/** What may stand between the classifier and a model output: pooling, activations, probabilities. */
const HEAD = new Set([
  ...DATA_MOVEMENT,
  ...['GlobalAveragePool', 'AveragePool', 'GlobalMaxPool', 'MaxPool', 'ReduceMean', 'ReduceMax'],
  ...['Relu', 'Clip', 'Sigmoid', 'Softmax', 'LogSoftmax'],
]);

/** The graph with the look-ups the rules need. */
interface GraphView extends TokenGraph {
  /** The linear layers on tokens (a MatMul by a constant weight and its bias Add), by their MatMul. */
  tokens: Map<Node, TokenLinear>;
  /** Values a GELU computes (the Gelu op's output, or the last node's of GELU written with Erf). */
  geluOutputs: Set<string>;
  modelInputs: Set<string>;
  modelOutputs: Set<string>;
  isConstant: (name: string) => boolean;
}

function viewOf(graph: Graph): GraphView {
  const tokenGraph = tokenGraphOf(graph);
  const { producers } = tokenGraph;
  const known = new Map<string, boolean>();
  // Constant: fixed by the file, or computed from such values alone (e.g. Cast of an initializer).
  const isConstant = (name: string): boolean => {
    let v = known.get(name);
    if (v === undefined) {
      known.set(name, false);
      const p = producers.get(name);
      v = constantValue(graph, name, producers) !== undefined || (p !== undefined && p.inputs.length > 0 && p.inputs.every((i) => i === '' || isConstant(i)));
      known.set(name, v);
    }
    return v;
  };
  const geluOutputs = new Set(graph.nodes.flatMap((n) => n.outputs.map((o) => o && geluOutput(o, tokenGraph)?.outputs[0]).filter((o): o is string => !!o)));
  return {
    ...tokenGraph,
    tokens: tokenLayers(tokenGraph),
    geluOutputs,
    modelInputs: new Set(graph.inputs.filter((i) => !graph.initializers.has(i.name)).map((i) => i.name)),
    modelOutputs: new Set(graph.outputs.map((o) => o.name)),
    isConstant,
  };
}

/**
 * The operand of `node` that carries the data through it, when `node` only prepares or reshapes that
 * data: the first input of a `kinds` op, or the one non-constant operand of Sub/Div/Mul/Add.
 */
function dataOperand(node: Node, kinds: Set<string>, g: GraphView): string | undefined {
  if (node.domain !== '' && node.domain !== 'ai.onnx') return undefined;
  if (kinds.has(node.opType)) return node.inputs[0];
  if (!AFFINE.has(node.opType)) return undefined;
  const variable = node.inputs.filter((i) => !g.isConstant(i));
  return variable.length === 1 ? variable[0] : undefined;
}

/** Rule: the ops between a model input and `node`'s data input, if only input preparation lies between. */
function pathFromModelInput(node: Node, g: GraphView): string[] | undefined {
  const ops: string[] = [];
  for (let value = node.inputs[0]; ;) {
    if (g.modelInputs.has(value)) return ops;
    const p = g.producers.get(value);
    const next = p && dataOperand(p, INPUT_PREPARATION, g);
    if (!p || next === undefined) return undefined;
    ops.unshift(p.opType);
    value = next;
  }
}

/** Rule: the ops between a layer's `output` and a model output, if a path of head ops alone leads there. */
function pathToModelOutput(output: string, g: GraphView): string[] | undefined {
  const search = (value: string, ops: string[], depth: number): string[] | undefined => {
    if (g.modelOutputs.has(value)) return ops;
    if (depth > 32) return undefined;
    for (const u of g.consumers.get(value) ?? []) {
      if (dataOperand(u, HEAD, g) !== value) continue;
      const found = search(u.outputs[0], [...ops, u.opType], depth + 1);
      if (found) return found;
    }
    return undefined;
  };
  return search(output, [], 0);
}

const through = (ops: string[]) => (ops.length ? ` through ${ops.join(' → ')}` : '');

function isReluLike(n: Node, graph: Graph): boolean {
  if (!RELU_LIKE.has(n.opType)) return false;
  if (n.opType !== 'Clip') return true;
  // Clip counts when its lower bound is 0 (ReLU6): attribute before opset 11, input after.
  const a = n.attributes.min;
  if (a && (a.type === 'float' || a.type === 'int')) return a.value === 0;
  const lo: ConstTensor | undefined = n.inputs[1] ? constantValue(graph, n.inputs[1]) : undefined;
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
  if (!gate || !mul || (gate.opType === 'HardSigmoid' && !isHardSwishGate(gate))) return undefined;
  const operands = new Set(mul.inputs);
  return operands.has(x) && operands.has(gate.outputs[0]) ? mul : undefined;
}

/** HardSigmoid with PyTorch's hardswish constants (alpha 1/6, beta 0.5): zero below -3. */
function isHardSwishGate(n: Node): boolean {
  const a = n.attributes.alpha;
  const b = n.attributes.beta;
  return a?.type === 'float' && Math.abs(a.value - 1 / 6) < 1e-6 && b?.type === 'float' && Math.abs(b.value - 0.5) < 1e-6;
}

interface Successor {
  next?: Node;
  swish?: string;
  /** Set when the next op is the last of GELU written as 0.5·x·(1 + Erf(x/√2)). */
  geluWritten?: boolean;
  fanOut: number;
  /** The value `next` reads: the layer's output, or that of the last no-op after it. */
  value: string;
}

/** What follows a layer's `output`: the op it feeds, after stepping over inference no-ops. */
function successor(output: string, g: GraphView): Successor {
  let out = output;
  for (;;) {
    const users = g.consumers.get(out) ?? [];
    if (users.length === 1 && NO_OPS.has(users[0].opType) && !g.modelOutputs.has(out)) {
      out = users[0].outputs[0];
      continue;
    }
    const mul = g.modelOutputs.has(out) ? undefined : swishMul(out, users);
    if (mul) return { next: mul, swish: users.find((u) => u !== mul)!.opType, fanOut: users.length, value: out };
    const gelu = g.modelOutputs.has(out) ? undefined : geluOutput(out, g);
    if (gelu && gelu.opType !== 'Gelu') return { next: gelu, geluWritten: true, fanOut: users.length, value: out };
    return { next: users.length === 1 ? users[0] : undefined, fanOut: users.length, value: out };
  }
}

function isDepthwise(node: Node, graph: Graph): boolean {
  const g = node.attributes.group;
  const group = g && g.type === 'int' ? g.value : 1;
  const w = graph.initializers.get(node.inputs[1]);
  return group > 1 && w !== undefined && w.dims[1] === 1;
}

/** Rule: --exclude and --include name layers that the other rules then do not decide. */
function byFlags(node: Node, opts: PlacementOptions): Placement | undefined {
  if (opts.exclude.has(node.name)) return { role: 'float', reason: 'excluded by --exclude' };
  if (opts.include.has(node.name)) return { role: 'gate', reason: 'included by --include' };
  return undefined;
}

/** Rule: the first layer reads the model input, directly or through input preparation only. */
function firstLayer(node: Node, g: GraphView, opts: PlacementOptions): Placement | undefined {
  const ops = pathFromModelInput(node, g);
  if (ops === undefined) return undefined;
  const reads = `first layer: reads the model input${through(ops)}`;
  return opts.quantizeFirstLayer
    ? { role: 'quantize', firstLayer: true, reason: `${reads}, quantized statically (--first-layer-bits)` }
    : { role: 'float', reason: `${reads}, kept float` };
}

/**
 * Rule: the classifier produces a model output, directly or through head ops only (pooling, Flatten,
 * Softmax, a ReLU: SqueezeNet's last conv is its classifier though a ReLU follows it); a layer whose output
 * nothing reads is kept float too.
 */
function classifier(output: string, g: GraphView, s: Successor): Placement | undefined {
  const ops = pathToModelOutput(output, g);
  if (ops !== undefined) return { role: 'float', reason: `classifier: produces a model output${through(ops)}, kept float` };
  if (s.fanOut === 0) return { role: 'float', reason: 'output not read by any node, kept float' };
  return undefined;
}

/** Rule: a linear layer that feeds no ReLU is part of a classifier head (e.g. Gemm → Dropout → Gemm). */
function linearHead(node: Node, feedsRelu: boolean): Placement | undefined {
  return node.opType === 'Gemm' && !feedsRelu ? { role: 'float', reason: 'classifier head: a linear layer not followed by a ReLU, kept float' } : undefined;
}

/**
 * Rule: a depthwise conv is quantized statically unless --gate-depthwise, which leaves one followed by a ReLU-like
 * activation or a residual Add to the rules of any conv; the reason says whether an activation follows it (one
 * with none stays static with the flag too).
 */
function depthwise(node: Node, s: Successor, g: GraphView, opts: PlacementOptions): Placement | undefined {
  if (!isDepthwise(node, g.graph)) return undefined;
  const relu = feedsReluLike(s, g.graph);
  // A residual Add after it is the residual rule's to follow (with both flags).
  const residual = s.next?.opType === 'Add' || s.next?.opType === 'Sum';
  if (opts.gateDepthwise && (relu || residual)) return undefined;
  if (relu) return { role: 'quantize', reason: `depthwise conv: output feeds ${activationName(s)}, quantized statically (gate it with --gate-depthwise)` };
  return { role: 'quantize', reason: `depthwise conv: ${feeds(s, g, false)}: quantized statically, not gated` };
}

const feedsReluLike = (s: Successor, graph: Graph): boolean => s.next !== undefined && (s.swish !== undefined || s.geluWritten === true || isReluLike(s.next, graph));

const activationName = ({ next, swish, geluWritten }: Successor): string =>
  swish !== undefined
    ? `x * ${swish}(x) (Swish, ReLU-like)`
    : geluWritten
      ? 'GELU written as 0.5·x·(1 + Erf(x/√2)) (ReLU-like)'
      : `${next!.opType}${next!.opType === 'Relu' ? '' : ' (ReLU-like)'}`;

/** The Conv/Gemm whose output (through no-ops) is `value`, read by `add` alone. */
function layerInto(add: Node, value: string, g: GraphView): Node | undefined {
  for (let v = value; ;) {
    const p = g.producers.get(v);
    if (!p) return undefined;
    if (LINEAR_OPS.has(p.opType) && p.domain === '') {
      const s = successor(p.outputs[0], g);
      return s.next === add && s.value === value ? p : undefined;
    }
    if (!NO_OPS.has(p.opType)) return undefined;
    v = p.inputs[0];
  }
}

const fmtShape = (s: readonly number[] | undefined) => (s ? `[${s.join(', ')}]` : 'unknown');

/**
 * Rule (--gate-residual): a layer whose output y enters Add(y, s) whose sum feeds a ReLU-like activation is
 * gated on the sum: the gate compares y_hb + s with Δ (s, the gate offset, is an input of the layer). When s
 * is itself the output of a Conv/Gemm (a downsampling shortcut), the one with more MACs per output (the two
 * have the same outputs) is gated, the other stays static and is the offset. Whatever the rule cannot follow
 * (broadcasting or unknown shapes, a constant operand, an Add not followed by an activation, an Add of more
 * operands) keeps the static treatment with the reason.
 */
function residualGate(node: Node, s: Successor, g: GraphView, opts: PlacementOptions): Placement {
  const add = s.next!;
  const why = (what: string): Placement => ({ role: 'quantize', reason: `output goes into the residual Add '${add.name}', ${what}: quantized statically, not gated` });
  if (add.opType !== 'Add' || add.inputs.length !== 2) return why(`a ${add.opType} of ${add.inputs.length} operands (residual gating follows a two-operand Add)`);
  const offset = add.inputs[0] === s.value ? add.inputs[1] : add.inputs[0];
  if (offset === s.value) return why('which adds the output to itself');
  if (g.isConstant(offset)) return why('whose other operand is a constant (a bias, not a residual)');
  const after = successor(add.outputs[0], g);
  if (!feedsReluLike(after, g.graph)) {
    const sumFeeds = `whose sum feeds ${after.next ? after.next.opType : `${after.fanOut} ops`}`;
    return why(noActivationAfter(after.value, g) ? `${sumFeeds}, no activation after it (a linear bottleneck's projection)` : `${sumFeeds}, not a ReLU`);
  }
  const [ys, os] = [opts.valueShape?.(s.value), opts.valueShape?.(offset)];
  if (!ys || !os || ys.length !== os.length || ys.some((d, i) => d !== os[i])) {
    return why(`whose operands' shapes ${ys && os ? 'differ' : 'are not known'} (${fmtShape(ys)} and ${fmtShape(os)}): the gate offset must have the output's shape`);
  }
  // The offset cannot depend on y: y's one reader is the Add (successor), so nothing else is computed from it.
  const other = layerInto(add, offset, g);
  const sum = `output + Add('${add.name}') feeds ${activationName(after)}: gated on the sum`;
  if (!other) return { role: 'gate', reason: `${sum} (gate offset '${offset}')`, residual: { add: add.name, offset } };
  const [mine, theirs] = [macsPerOutput(node, g.graph), macsPerOutput(other, g.graph)];
  const order = g.graph.nodes;
  if (mine > theirs || (mine === theirs && order.indexOf(node) < order.indexOf(other))) {
    return {
      role: 'gate',
      reason: `${sum}, offset by the output of '${other.name}' (the other path into the Add, fewer MACs, quantized statically)`,
      residual: { add: add.name, offset },
    };
  }
  return {
    role: 'quantize',
    reason: `output goes into the residual Add '${add.name}' with '${other.name}' (more MACs), which is gated on the sum with this output as its gate offset: quantized statically`,
  };
}

/**
 * Rule: a transformer's attention projections are quantized statically: the query, key and value
 * projections' outputs meet another activation in the attention's MatMuls, and the output projection reads
 * the heads merged; neither feeds an activation a gate could predict.
 */
function attention(token: TokenLinear | undefined, g: GraphView): Placement | undefined {
  const role = token && attentionRole(token, g);
  if (role === 'projection')
    return {
      role: 'quantize',
      reason:
        "attention projection (queries, keys or values: its output meets another activation in the attention's MatMul, no activation after it): quantized statically, not gated",
    };
  if (role === 'output')
    return { role: 'quantize', reason: "attention output projection (reads the attention's heads merged, no activation after it): quantized statically, not gated" };
  return undefined;
}

/** Ops after which a layer's output has had no activation: other layers, and sums with other values. */
const NO_ACTIVATION = new Set([...LINEAR_OPS, 'MatMul', 'Add', 'Sum', 'Concat']);

/** Whether every reader of `value` is a layer or a sum: nothing activates it. */
function noActivationAfter(value: string, g: GraphView): boolean {
  const users = g.consumers.get(value) ?? [];
  return users.length > 0 && users.every((u) => NO_ACTIVATION.has(u.opType));
}

/**
 * What a layer feeds, in a reason: `output goes into a residual Add`, `output feeds Softmax`...; a layer whose
 * readers are all layers or sums is said to have no activation after it, and with `linearNote` to be a linear
 * layer (a linear bottleneck's projection in MobileNetV2).
 */
function feeds(s: Successor, g: GraphView, linearNote = true): string {
  const { next, fanOut } = s;
  if (next?.opType === 'Add' || next?.opType === 'Sum') return 'output goes into a residual Add before any activation';
  const what = `output feeds ${next ? next.opType : `${fanOut} ops`}`;
  if (!noActivationAfter(s.value, g)) return `${what}, not a ReLU`;
  return `${what}, no activation after it${linearNote ? " (a linear layer, as a linear bottleneck's projection)" : ''}`;
}

/** Rule: a layer whose output feeds a ReLU-like activation is gated; what else it feeds decides why not. */
function byActivation(node: Node, s: Successor, g: GraphView, opts: PlacementOptions): Placement {
  const { next } = s;
  if (feedsReluLike(s, g.graph)) return { role: 'gate', reason: `output feeds ${activationName(s)}: gated` };
  if (g.geluOutputs.has(node.inputs[0])) {
    // A transformer's second feed-forward layer: GELU before it, the residual Add after.
    return { role: 'quantize', reason: `second feed-forward layer (reads GELU; ${feeds(s, g)}): quantized statically, not gated` };
  }
  if (next?.opType === 'BatchNormalization') {
    // convert folds BN into the layer before it; one left here could not be folded (see its note), and a gate
    // would compare the output before BN with the activation's boundary after it.
    return { role: 'quantize', reason: 'output goes through a BatchNormalization that could not be folded into it: quantized statically, not gated' };
  }
  // Residual gating has Conv/Gemm forms (PGResidualConv/Gemm); a token layer keeps the static treatment.
  if ((next?.opType === 'Add' || next?.opType === 'Sum') && opts.gateResidual && LINEAR_OPS.has(node.opType)) return residualGate(node, s, g, opts);
  return { role: 'quantize', reason: `${feeds(s, g)}: quantized statically, not gated` };
}

/**
 * Decides for every layer (Conv, Gemm, and a MatMul by a constant weight on tokens with its bias Add)
 * whether it is gated, quantized statically, or left float, following the method, rule by rule (the first
 * that applies decides): --exclude/--include; the first layer (reads the model input, through input
 * preparation such as Flatten, Transpose or Sub/Div by constants) and the classifier (produces a model
 * output, through pooling, Flatten, Softmax or a ReLU) stay float; a Gemm feeding no ReLU is a classifier
 * head, float; depthwise convs and a transformer's attention projections are quantized; a layer feeding a
 * ReLU-like activation (GELU and Swish included) is gated; the rest, which sit between gated ones (a
 * transformer's second feed-forward layer), are quantized statically. Expects BatchNormalization folded into
 * the layers (convert does it first).
 */
export function placeLayers(graph: Graph, opts: PlacementOptions): Map<Node, Placement> {
  const g = viewOf(graph);
  const result = new Map<Node, Placement>();
  for (const node of graph.nodes) {
    if (isRecurrentLayer(node)) {
      const placement = (node.opType in PG_RECURRENT_FORMS ? byFlags(node, opts) : undefined) ?? recurrentLayer(node, g);
      result.set(node, opts.mode === 'static' ? staticMode(placement) : placement);
      continue;
    }
    const token = g.tokens.get(node);
    if ((!LINEAR_OPS.has(node.opType) && !token) || node.domain !== '') continue;
    const output = token?.output ?? node.outputs[0];
    const s = successor(output, g);
    const feedsRelu = feedsReluLike(s, graph);
    const placement =
      byFlags(node, opts) ??
      firstLayer(node, g, opts) ??
      classifier(output, g, s) ??
      linearHead(node, feedsRelu) ??
      depthwise(node, s, g, opts) ??
      attention(token, g) ??
      byActivation(node, s, g, opts);
    result.set(node, opts.mode === 'static' ? staticMode(placement) : placement);
  }
  return result;
}

/**
 * Rule (recurrent layers): an LSTM's or a GRU's matrix products, input-to-hidden and hidden-to-hidden, are gated per
 * unit and time step on the gate pre-activations they sum to (docs/method.md, "Recurrent layers"), whatever reads
 * its input or output: the gate's rule is made for sigmoid and tanh, not for a following ReLU. What the
 * gated form does not cover stays float with the reason: RNN, padded batches (sequence_lens), weights
 * computed at run time.
 */
function recurrentLayer(node: Node, g: GraphView): Placement {
  if (!(node.opType in PG_RECURRENT_FORMS)) {
    return { role: 'float', reason: `${node.opType}: pg gates LSTM and GRU layers only (no gated ${node.opType} form yet), kept float` };
  }
  if (node.inputs[4]) return { role: 'float', reason: "sequence_lens given: padded steps would count in the gate's sparsity (no masked gate yet), kept float" };
  const computed = [1, 2].map((i) => node.inputs[i]).filter((w) => !g.graph.initializers.has(w));
  if (computed.length) return { role: 'float', reason: `weight ${computed.map((w) => `'${w}'`).join(', ')} is computed at run time, not an initializer: kept float` };
  return {
    role: 'gate',
    reason: `${node.opType}: its input-to-hidden and hidden-to-hidden products are gated per unit and time step on the gate pre-activations (${node.opType === 'GRU' ? "z, r and the hidden gate's; " : ''}sigmoid/tanh follow: a recurrent gate rule, not the ReLU rule)`,
  };
}

/** --mode static: a layer the rules gate is quantized at B bits, without a gate. */
function staticMode(p: Placement): Placement {
  return p.role === 'gate' ? { role: 'quantize', reason: `--mode static: quantized statically where pg would gate (${p.reason})` } : p;
}

/** The note a layer's reason gets for the BatchNormalization folded into it (empty when none was). */
export function foldNote(layer: Node, folds: readonly BatchNormFold[]): string {
  const mine = folds.filter((f) => f.into === layer.name);
  if (mine.length === 0) return '';
  const negative = mine.reduce((a, f) => a + f.negativeScales, 0);
  const names = mine.map((f) => `'${f.node}'`).join(', ');
  return `; BatchNormalization ${names} folded in${negative > 0 ? ` (${negative} channel(s) with a negative scale)` : ''}`;
}
