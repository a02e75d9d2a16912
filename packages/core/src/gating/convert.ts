import type { AttributeValue, BatchNormFold, BatchNormKept, ConstTensor, Graph, Model, Node } from '../graph/index.js';
import { constTensor, foldBatchNormalization, isRecurrentLayer } from '../graph/index.js';
import { convertRecurrent } from './recurrent-convert.js';
import type { RecurrentGateRule } from './recurrent-gate.js';
import { topologicalOrder } from '../graph/topo.js';
import { probeValueShapes } from './value-shapes.js';
import { upgradeOpset } from '../graph/passes/upgrade-opset.js';
import { UnsupportedModelError, UsageError } from '../errors/index.js';
import { functionsFor } from './model-functions.js';
import {
  CONVERSION_MODES,
  META,
  PG_CONV,
  PG_CONV_RESIDUAL,
  PG_DOMAIN,
  PG_DOMAIN_VERSION,
  PG_GEMM,
  PG_GEMM_RESIDUAL,
  PG_MATMUL,
  Q_CONV,
  Q_GEMM,
  Q_MATMUL,
  FORMAT_VERSION,
  RECOMPUTE_ATTR,
  actScaleName,
  biasName,
  isPgNode,
  thresholdName,
  type ActScaleMode,
  type ConversionMode,
} from './format.js';
import { foldNote, placeLayers, LINEAR_OPS, type Placement, type ResidualGate } from './placement.js';
import { tokenGraphOf, tokenLayers, type TokenLinear } from './token-layers.js';
import { SCALE_FLOOR } from './quantizer.js';
import { SupportCheck } from '../interpreter/support.js';
import { opRegistry } from './op-registry.js';

export interface ConvertOptions {
  bits: number;
  /** B_hb of gated layers; not used by mode 'static' (no layer predicts). */
  hbits: number;
  wbits: number;
  actScale: ActScaleMode;
  include?: string[];
  exclude?: string[];
  gateDepthwise?: boolean;
  /**
   * Gate layers whose output enters a residual Add that feeds a ReLU-like activation on the sum
   * (PGResidualConv/PGResidualGemm, the Add's other operand as gate offset); false: they are quantized
   * statically. Undefined: gateResidualDefault(mode).
   */
  gateResidual?: boolean;
  /**
   * Quantize the first layer (the Conv/Gemm layers reading the model input) statically at this many bits,
   * activations and weights (a QConv/QGemm), instead of keeping it float as the method does. Then every
   * operation from the model input to each gate is integer-exact or elementwise, so every conforming
   * runtime takes the same gate decisions end to end (docs/gated-format.md). Undefined: the first layer
   * stays float. `pg convert` and `pg sweep` pass FIRST_LAYER_BITS_DEFAULT unless told `float`.
   */
  firstLayerBits?: number;
  /** What the layers the method gates become (format.ts, CONVERSION_MODES); 'pg' when absent. */
  mode?: ConversionMode;
  /** The gate rule of gated LSTMs (recurrent-gate.ts); DEFAULT_RECURRENT_GATE_RULE when absent. */
  recurrentRule?: RecurrentGateRule;
}

/** What precision a conv/linear layer runs at; shared by convert's decisions and report's layers. */
export interface LayerPrecision {
  name: string;
  op: string;
  gated: boolean;
  /** Which gate: 'plain' (the layer's own output), 'residual' (its sum with the residual it is added to); null if not gated. */
  gate: GateKind | null;
  /** Activation bits, or null for a layer left float. */
  bits: number | null;
  hbits: number | null;
  wbits: number | null;
  /**
   * Gated layers: 'seernet' when the outputs that pass the gate are recomputed at B bits and the others are
   * zero (RECOMPUTE_ATTR), 'pg' when the others keep the prediction; absent on other layers.
   */
  gate_mode?: 'pg' | 'seernet';
}

export type GateKind = 'plain' | 'residual';

export interface LayerDecision extends LayerPrecision {
  reason: string;
}

export interface ConvertResult {
  model: Model;
  layers: LayerDecision[];
  /** The BatchNormalization nodes folded into the layer before them, and those left in place with why. */
  batchNormalization: { folded: BatchNormFold[]; kept: BatchNormKept[] };
}

/** The lowest default-domain opset of a gated model (its functions use Constant's value_int, opset 12). */
export const GATED_MIN_OPSET = 12;

export const BIT_RANGE = { min: 2, max: 16 } as const;

/**
 * The first layer's bits when the user does not choose: 8-bit activations and weights make every gate decision
 * the same in every conforming runtime (a float first layer rounds in each runtime's summation order), at a
 * cost in accuracy measured in docs/method.md; 8 keeps a stem of fan-in up to 258 exact in float32.
 */
export const FIRST_LAYER_BITS_DEFAULT = 8;

/**
 * Residual gating is on by default: it gates about 0.97 of a ResNet's conv MACs instead of 0.39 (whole model
 * 0.60x static 4-bit instead of 0.84x, docs/results.md); 'static' quantizes the same layers (and says so).
 * Off for SeerNet's form, which cannot carry it (its closed gate writes the ReLU's zero, and a residual
 * gate's ReLU reads the sum).
 */
export function gateResidualDefault(mode: ConversionMode | undefined): boolean {
  return mode !== 'seernet';
}

export function validateBits(o: Pick<ConvertOptions, 'bits' | 'hbits' | 'wbits' | 'firstLayerBits' | 'mode' | 'gateResidual'>): void {
  const int = (v: number) => Number.isInteger(v);
  const mode = o.mode ?? 'pg';
  if (!(CONVERSION_MODES as readonly string[]).includes(mode)) {
    throw new UsageError(`--mode ${mode} is not a conversion mode`, { action: `use one of ${CONVERSION_MODES.join(', ')}` });
  }
  if (mode === 'seernet' && o.gateResidual === true) {
    // SeerNet's closed gate writes the ReLU's zero; a residual gate's ReLU reads the sum, not the layer's output.
    throw new UsageError('--mode seernet cannot be combined with --gate-residual', {
      action: 'drop --gate-residual (with --mode seernet residual layers are quantized statically), or use --mode pg',
    });
  }
  if (o.firstLayerBits !== undefined && (!int(o.firstLayerBits) || o.firstLayerBits < BIT_RANGE.min || o.firstLayerBits > BIT_RANGE.max)) {
    throw new UsageError(`--first-layer-bits ${o.firstLayerBits} is out of range`, {
      action: `use an integer from ${BIT_RANGE.min} to ${BIT_RANGE.max} (8, the default, keeps a typical stem exact: fan-in up to 258), or 'float' to keep the first layer float`,
    });
  }
  if (!int(o.bits) || o.bits < BIT_RANGE.min || o.bits > BIT_RANGE.max) {
    throw new UsageError(`--bits ${o.bits} is out of range`, { action: `use an integer from ${BIT_RANGE.min} to ${BIT_RANGE.max}` });
  }
  if (mode !== 'static' && (!int(o.hbits) || o.hbits < 1 || o.hbits >= o.bits)) {
    throw new UsageError(`--hbits ${o.hbits} must be at least 1 and less than --bits ${o.bits}${mode === 'seernet' ? ' (--mode seernet predicts from the top hbits)' : ''}`, {
      action: 'the prediction uses the top hbits of the bits; e.g. --bits 4 --hbits 2',
    });
  }
  if (!int(o.wbits) || o.wbits < 2 || o.wbits > 32) {
    throw new UsageError(`--wbits ${o.wbits} is out of range`, { action: 'use an integer from 2 to 32 (32 keeps weights at float precision)' });
  }
}

/** The op a converted layer becomes, by its float op (a token layer's MatMul with its bias Add is one layer). */
const CONVERTED: Record<string, { gated: string; quantized: string }> = {
  Conv: { gated: PG_CONV, quantized: Q_CONV },
  Gemm: { gated: PG_GEMM, quantized: Q_GEMM },
  MatMul: { gated: PG_MATMUL, quantized: Q_MATMUL },
};

/**
 * Inserts PG quantizers: gated layers become PGConv/PGGemm/PGMatMul, layers between them QConv/QGemm/QMatMul,
 * the rest stays (a transformer's linear layer on tokens, MatMul and bias Add, becomes one PGMatMul/QMatMul).
 * Thresholds start at 0 (the method's start); static activation scales start at 1 and are calibrated from data
 * by `calibrateScales` (convert with data, or finetune). `mode` 'static' quantizes the layers the method gates
 * instead, 'seernet' gates them in SeerNet's form (format.ts, CONVERSION_MODES).
 */
export function convertModel(input: Model, opts: ConvertOptions): ConvertResult {
  validateBits(opts);
  const mode = opts.mode ?? 'pg';
  const where = input.sourcePath ?? 'the model';
  if (input.graph.nodes.some(isPgNode)) {
    throw new UsageError(`${where} is already a gated model`, { action: 'convert the original float model; use `pg finetune` or `pg report` on this one' });
  }
  // A gate compares a layer's output with the following activation's boundary, so BatchNormalization
  // between them must be part of the layer (folded at the model's own opset, whose BN form it reads).
  const bn = foldBatchNormalization(input);
  // pg's function bodies use opset-12 ops; older models are rewritten to it (the ops whose form changed).
  const model = upgradeOpset(bn.model, GATED_MIN_OPSET, opRegistry);
  checkRunnable(model, where);
  const { tokens, placements } = placementsFor(model, { ...opts, mode }, where);
  const initializers = new Map(model.graph.initializers);
  const layers: LayerDecision[] = [];
  const merged = mergedBiasAdds(placements, tokens);
  const nodes = model.graph.nodes.flatMap((original): Node[] => {
    if (merged.has(original)) return [];
    const p = placements.get(original);
    if (!p) return [original];
    const base = { name: original.name, op: original.opType, reason: p.reason + foldNote(original, bn.folded) };
    if (p.role === 'float') {
      layers.push({ ...base, gated: false, gate: null, bits: null, hbits: null, wbits: null });
      return [original];
    }
    if (isRecurrentLayer(original)) return [recurrentLayer(original, p, base, { ...opts, mode }, initializers, layers, where)];
    const { transpose, node } = transAAsTranspose(original);
    const front = transpose ? [transpose] : [];
    if (transpose) base.reason += `; transA = 1 written as a Transpose in front ('${transpose.name}')`;
    const gated = p.role === 'gate';
    // The first layer, when quantized, runs at its own width for activations and weights alike.
    const first = p.role === 'quantize' && p.firstLayer === true ? opts.firstLayerBits! : undefined;
    const bits = { bits: first ?? opts.bits, hbits: opts.hbits, wbits: first ?? opts.wbits };
    const residual = p.role === 'gate' ? p.residual : undefined;
    layers.push(convertedLayer(base, bits, residual, gated ? mode : undefined));
    const scale = actScaleName(node.name);
    initializers.set(scale, constTensor(scale, 'float32', [], new Float32Array([opts.actScale === 'dynamic' ? SCALE_FLOOR : 1])));
    const attributes: Record<string, AttributeValue> = {
      ...node.attributes,
      bits: { type: 'int', value: bits.bits },
      wbits: { type: 'int', value: bits.wbits },
      dynamic_scale: { type: 'int', value: opts.actScale === 'dynamic' ? 1 : 0 },
    };
    const [x, w] = node.inputs;
    const { b, outputs } = layerEnds(node, tokens.get(node), model, initializers);
    const exactness = accumulationExactness(node, model, bits, gated);
    if (!exactness.exact) layers[layers.length - 1].reason += `; ${exactness.note}`;
    const ops = CONVERTED[node.opType];
    if (!gated) {
      return [...front, { ...node, domain: PG_DOMAIN, opType: ops.quantized, inputs: [x, w, b, scale], outputs, attributes }];
    }
    const thr = thresholdName(node.name);
    const channels = outputChannels(node, model);
    initializers.set(thr, constTensor(thr, 'float32', [channels], new Float32Array(channels)));
    attributes.hbits = { type: 'int', value: opts.hbits };
    if (mode === 'seernet') attributes[RECOMPUTE_ATTR] = { type: 'int', value: 1 };
    // A residual gate reads the Add's other operand as its sixth input, the gate offset.
    const [opType, inputs] = residual ? [node.opType === 'Conv' ? PG_CONV_RESIDUAL : PG_GEMM_RESIDUAL, [x, w, b, thr, scale, residual.offset]] : [ops.gated, [x, w, b, thr, scale]];
    return [...front, { ...node, domain: PG_DOMAIN, opType, inputs, outputs, attributes }];
  });
  const graph = offsetsFirst({ ...model.graph, nodes, initializers }, layers, where);
  const converted: Model = {
    ...model,
    // Model-local functions (pg's ops) exist from IR version 8; older exporters write 4 to 7.
    irVersion: Math.max(model.irVersion, 8),
    graph,
    opsetImports: [...model.opsetImports.filter((o) => o.domain !== PG_DOMAIN), { domain: PG_DOMAIN, version: PG_DOMAIN_VERSION }],
    metadata: {
      ...model.metadata,
      [META.format]: FORMAT_VERSION,
      [META.actScale]: opts.actScale === 'static' ? 'static-uncalibrated' : 'dynamic',
      [META.bits]: String(opts.bits),
      ...(mode === 'static' ? {} : { [META.hbits]: String(opts.hbits) }),
      [META.wbits]: String(opts.wbits),
      [META.mode]: mode,
    },
  };
  converted.functions = functionsFor(converted);
  return { model: converted, layers, batchNormalization: { folded: bn.folded, kept: bn.kept } };
}

/** A placed LSTM as a PGLSTM/QLSTM (recurrent-convert.ts), its decision added to `layers`. */
function recurrentLayer(
  node: Node,
  p: Exclude<Placement, { role: 'float' }>,
  base: Pick<LayerDecision, 'name' | 'op' | 'reason'>,
  opts: ConvertOptions & { mode: ConversionMode },
  initializers: Map<string, ConstTensor>,
  layers: LayerDecision[],
  where: string,
): Node {
  const r = convertRecurrent(node, p, { ...opts, rule: opts.recurrentRule }, initializers, where);
  layers.push(convertedLayer({ ...base, reason: r.reason }, opts, undefined, r.gated ? opts.mode : undefined));
  return r.node;
}

/** A converted layer's decision: gated (with its gate and gate mode, `gateMode` set) or quantized (`gateMode` undefined). */
function convertedLayer(
  base: Pick<LayerDecision, 'name' | 'op' | 'reason'>,
  bits: { bits: number; hbits: number; wbits: number },
  residual: ResidualGate | undefined,
  gateMode: ConversionMode | undefined,
): LayerDecision {
  const gated = gateMode !== undefined;
  const gate = gated ? (residual ? 'residual' : 'plain') : null;
  return { ...base, gated, gate, bits: bits.bits, hbits: gated ? bits.hbits : null, wbits: bits.wbits, ...(gated ? { gate_mode: gateMode === 'seernet' ? 'seernet' : 'pg' } : {}) };
}

/**
 * A gate offset may come later in the file than the layer that now reads it (PyTorch writes a block's shortcut
 * conv after its main path): with residual gates the nodes are put in an order where each input comes first.
 */
function offsetsFirst(graph: Graph, layers: LayerDecision[], where: string): Graph {
  return layers.some((l) => l.gate === 'residual') ? { ...graph, nodes: topologicalOrder(graph, where) } : graph;
}

/** The shapes of every Add's operands (what the residual rule checks for broadcasting), from one run on zeros. */
export function addOperandShapes(model: Model): (name: string) => readonly number[] | undefined {
  const names = model.graph.nodes.filter((n) => n.opType === 'Add' && n.domain === '').flatMap((n) => n.inputs);
  const shapes = probeValueShapes(model, names);
  return (name) => shapes.get(name);
}

/** Where each layer goes (placement's rules, with the options' layer names checked first and after). */
function placementsFor(model: Model, opts: ConvertOptions, where: string): { tokens: Map<Node, TokenLinear>; placements: Map<Node, Placement> } {
  const include = new Set(opts.include ?? []);
  const exclude = new Set(opts.exclude ?? []);
  const tokens = tokenLayers(tokenGraphOf(model.graph));
  checkLayerSelection(model, tokens, { '--include': include, '--exclude': exclude }, where);
  const gateResidual = opts.gateResidual ?? gateResidualDefault(opts.mode);
  const placements = placeLayers(model.graph, {
    include,
    exclude,
    gateDepthwise: opts.gateDepthwise ?? false,
    quantizeFirstLayer: opts.firstLayerBits !== undefined,
    mode: opts.mode,
    gateResidual,
    valueShape: gateResidual ? addOperandShapes(model) : undefined,
  });
  checkLayerNames(placements, where);
  if (opts.mode === 'seernet') checkSeernetLayers(placements, tokens, where);
  return { tokens, placements };
}

/**
 * SeerNet's form (a closed gate writes the ReLU's zero) is defined for a layer whose own output feeds the
 * activation: not for a token layer (PGMatMul, before a GELU whose zero is not exact) and not for a residual
 * gate (the activation reads the sum, whose zero is not the layer's). Refused rather than half-modelled.
 */
function checkSeernetLayers(placements: Map<Node, Placement>, tokens: Map<Node, TokenLinear>, where: string): void {
  const token = [...placements].find(([n, p]) => p.role === 'gate' && tokens.has(n));
  if (token) {
    throw new UsageError(`--mode seernet does not apply to the token layer '${token[0].name}' of ${where} (a PGMatMul gate)`, {
      action: `use --mode pg or --mode static for a transformer, or keep its token layers ungated with --exclude ${token[0].name}`,
    });
  }
}

/** The bias Adds of the token layers that convert: their PGMatMul/QMatMul adds the bias. */
function mergedBiasAdds(placements: Map<Node, Placement>, tokens: Map<Node, TokenLinear>): Set<Node> {
  return new Set([...placements].filter(([n, p]) => p.role !== 'float' && tokens.get(n)?.biasAdd).map(([n]) => tokens.get(n)!.biasAdd!));
}

/** A converted layer's bias (zeros when it has none) and outputs: a token layer's are its bias Add's. */
function layerEnds(node: Node, token: TokenLinear | undefined, model: Model, initializers: Map<string, ConstTensor>): { b: string; outputs: string[] } {
  const bias = token ? token.bias : node.inputs[2];
  return { b: bias ? bias : addZeroBias(node, model, initializers), outputs: token ? [token.output] : node.outputs };
}

/** --include and --exclude name layers of the model: Conv/Gemm/LSTM nodes, or the MatMul of a linear layer on tokens. */
function checkLayerSelection(model: Model, tokens: Map<Node, TokenLinear>, selections: Record<string, Set<string>>, where: string): void {
  const layerNames = model.graph.nodes.filter((n) => LINEAR_OPS.has(n.opType) || tokens.has(n) || isRecurrentLayer(n)).map((n) => n.name);
  for (const [flag, names] of Object.entries(selections)) {
    const unknown = [...names].filter((n) => !layerNames.includes(n));
    if (unknown.length) {
      throw new UsageError(`${flag}: no Conv/Gemm layer named ${unknown.map((u) => `'${u}'`).join(', ')} in ${where}`, {
        action: `layer names are (a linear layer on tokens by its MatMul): ${layerNames.join(', ')}`,
      });
    }
  }
}

/**
 * A gated model is only useful if pg can fine-tune and measure it, so an op pg cannot run fails here,
 * naming the node, rather than later in `pg finetune`.
 */
function checkRunnable(model: Model, where: string): void {
  const support = new SupportCheck(model, opRegistry);
  model.graph.nodes.forEach((node, i) => {
    const why = support.reason(node);
    if (why === undefined) return;
    const label = node.name ? `'${node.name}'` : `#${i}`;
    throw new UnsupportedModelError(`${where}: node ${label} uses op '${node.domain ? `${node.domain}.` : ''}${node.opType}', which pg cannot run (${why})`, {
      action: `pg supports: ${opRegistry.ops('').join(', ')}. Replace the op when exporting, or open an issue asking for it.`,
    });
  });
}

/**
 * A Gemm with transA = 1 reads its samples as X's columns; pg's quantizer takes a per-sample scale over X's
 * rows, and a function body cannot transpose on an attribute. So a converted Gemm gets an explicit Transpose
 * of X in front (data movement, exact) and transA = 0: the same values in every form.
 */
function transAAsTranspose(node: Node): { transpose?: Node; node: Node } {
  const t = node.attributes.transA;
  if (node.opType !== 'Gemm' || !t || t.type !== 'int' || t.value !== 1) return { node };
  const name = `${node.name}.pg_transpose_a`;
  const transpose: Node = { name, opType: 'Transpose', domain: '', inputs: [node.inputs[0]], outputs: [name], attributes: { perm: { type: 'ints', value: [1, 0] } } };
  const attributes = Object.fromEntries(Object.entries(node.attributes).filter(([k]) => k !== 'transA'));
  return { transpose, node: { ...node, inputs: [name, ...node.inputs.slice(1)], attributes } };
}

/** pg names each layer's threshold and scale after the layer, so converted layers need distinct, non-empty names. */
function checkLayerNames(placements: Map<Node, { role: string }>, where: string): void {
  const seen = new Set<string>();
  for (const [node, p] of placements) {
    if (p.role === 'float') continue;
    if (node.name === '' || seen.has(node.name)) {
      const what = node.name === '' ? `a ${node.opType} node has no name` : `two Conv/Gemm layers are named '${node.name}'`;
      throw new UnsupportedModelError(`${where}: ${what}; pg names each converted layer's parameters after its node`, {
        action: 'Give every Conv and Gemm node a unique name (torch.onnx.export does), or leave the layer float with --exclude.',
      });
    }
    seen.add(node.name);
  }
}

/** The version-2 bodies add the bias after scaling the accumulator, so a layer without one gets zeros. */
function addZeroBias(node: Node, model: Model, initializers: Map<string, ConstTensor>): string {
  const name = biasName(node.name);
  const channels = outputChannels(node, model);
  initializers.set(name, constTensor(name, 'float32', [channels], new Float32Array(channels)));
  return name;
}

/** Largest exactly representable run of float32 integers: every integer of magnitude up to 2^24. */
export const FLOAT32_EXACT_INTEGERS = 2 ** 24;

export interface AccumulationExactness {
  /** Products per output: C_in/group·kH·kW, or the Gemm's K. */
  fanIn: number;
  /** Largest possible |accumulator| (and partial sum) of the prediction (gated) or the whole code (quantized). */
  bound: number;
  exact: boolean;
  note: string;
}

/**
 * Whether a layer's integer accumulations are exact in float32 in every summation order: every partial sum
 * is an integer of magnitude at most fanIn·(largest code)·n_w, exact while that is at most 2^24. Gated
 * layers: the prediction (codes up to 2^hbits - 1) and the update (up to 2^(bits-hbits) - 1); quantized:
 * the whole code (up to 2^bits - 1). Weight codes are at most n_w = 2^wbits - 1.
 */
export function accumulationExactness(node: Node, model: Model, bits: Pick<ConvertOptions, 'bits' | 'hbits' | 'wbits'>, gated: boolean): AccumulationExactness {
  const w = model.graph.initializers.get(node.inputs[1]);
  const dims = w?.dims ?? [];
  const tb = node.attributes.transB;
  const fanIn =
    node.opType === 'Conv' || node.opType === PG_CONV || node.opType === Q_CONV
      ? dims.slice(1).reduce((a, d) => a * d, 1)
      : tb && tb.type === 'int' && tb.value === 1
        ? dims[1]
        : dims[0];
  const nw = 2 ** bits.wbits - 1;
  const code = gated ? Math.max(2 ** bits.hbits - 1, 2 ** (bits.bits - bits.hbits) - 1) : 2 ** bits.bits - 1;
  const bound = fanIn * code * nw;
  const exact = bound <= FLOAT32_EXACT_INTEGERS;
  const what = gated ? 'prediction and update' : 'accumulation';
  return {
    fanIn,
    bound,
    exact,
    note: exact
      ? `${what} exact in float32 (|acc| <= ${bound} <= 2^24)`
      : `${what} not exact in float32: |acc| can reach ${bound} > 2^24 (fan-in ${fanIn}), so runtimes that sum in another order may differ in the last bit and decide a near-tie differently`,
  };
}

function outputChannels(node: Node, model: Model): number {
  const w = model.graph.initializers.get(node.inputs[1]);
  if (!w) {
    throw new UnsupportedModelError(`node '${node.name}' (${node.opType}): its weight '${node.inputs[1]}' is not an initializer`, {
      action: 'pg gates layers with constant weights; exclude this layer with --exclude',
    });
  }
  if (node.opType === 'Conv') return w.dims[0];
  const tb = node.attributes.transB;
  return tb && tb.type === 'int' && tb.value === 1 ? w.dims[0] : w.dims[1];
}
