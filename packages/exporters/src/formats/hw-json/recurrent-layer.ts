import { attrFloat, attrInt, DEFAULT_RECURRENT_GATE_RULE, RECURRENT_GATE_RULES, UnsupportedModelError, type ConstTensor, type Model, type PgLayer } from '@pg/core';
import type { HwRecurrentLayer, HwRecurrentWeights, HwTensorRef } from './format.js';
import { accumulatorBits, levels, weightCodes } from './integer-params.js';
import { floatData, intTensor, tensorRef, type TensorFileBuilder } from './tensor-file.js';

// A PGLSTM/QLSTM (PGGRU/QGRU) as hw-json describes it (docs/hw-json.md, step 7): integer codes of W and R per direction, x's and
// h's quantizers, the two accumulations' units, the bias and the thresholds in float32 (the gate compares a float32
// sum of the two accumulations' values with Δ, so no threshold in accumulator units exists).

/** Per ONNX op: the gate rows of W, R, B and z in ONNX's order, the op's input and output counts. */
const RECURRENT_OPS = {
  LSTM: { gates: ['i', 'o', 'f', 'c'], inputs: 8, outputs: 3 },
  GRU: { gates: ['z', 'r', 'h'], inputs: 6, outputs: 2 },
} as const;
/** Inputs past X, W, R, B (sequence_lens, initial_h, and an LSTM's initial_c, P): graph values or constant params. */
const FIRST_STATE_INPUT = 4;

/** Per-direction weight codes of W [D, G·H, K] (or R), each direction quantized on its own scale as pg does. */
function directionCodes(w: ConstTensor, wbits: number, file: TensorFileBuilder): HwRecurrentWeights {
  const data = floatData(w);
  const [directions] = w.dims;
  const per = data.length / directions;
  const codes = new Int32Array(data.length);
  const scale: number[] = [];
  for (let d = 0; d < directions; d++) {
    const q = weightCodes(data.subarray(d * per, (d + 1) * per), wbits);
    codes.set(q.codes, d * per);
    scale.push(q.scale);
  }
  const t = intTensor(codes);
  return { bits: wbits, levels: levels(wbits), scale, codes: file.add(t.dtype, w.dims.slice(), t.data) };
}

/**
 * The bias pg adds to x's products, f32(Wb + Rb) per direction and gate row [D, G·H], and (a GRU with
 * linear_before_reset) the hidden gate's Rb_h [D, H], which pg adds under the reset gate instead (its x-side bias
 * there is Wb alone).
 */
function splitBias(
  b: ConstTensor,
  directions: number,
  rows: number,
  hidden: number,
  underReset: boolean,
  file: TensorFileBuilder,
): { float: HwTensorRef; recurrent: HwTensorRef | null } {
  const data = floatData(b);
  const hiddenRows = rows - hidden;
  const input = Float32Array.from({ length: directions * rows }, (_, i) => {
    const d = Math.floor(i / rows);
    const g = i % rows;
    const rb = underReset && g >= hiddenRows ? 0 : data[d * 2 * rows + rows + g];
    return Math.fround(data[d * 2 * rows + g] + rb);
  });
  const recurrent = Float32Array.from({ length: directions * hidden }, (_, i) => data[Math.floor(i / hidden) * 2 * rows + rows + hiddenRows + (i % hidden)]);
  return { float: file.add('float32', [directions, rows], input), recurrent: underReset ? file.add('float32', [directions, hidden], recurrent) : null };
}

export function describeRecurrent(layer: PgLayer, model: Model, file: TensorFileBuilder, where: string): HwRecurrentLayer {
  const { node } = layer;
  const init = (name: string | undefined): ConstTensor | undefined => (name ? model.graph.initializers.get(name) : undefined);
  const constant = (what: string, name: string | undefined) => {
    const t = init(name);
    if (!t) {
      throw new UnsupportedModelError(`${where}: node '${node.name}' (${node.opType}): its ${what} '${name ?? ''}' must be an initializer`, {
        action: 'export a model written by pg convert or pg finetune',
      });
    }
    return t;
  };
  const w = constant('W', layer.weight);
  const r = constant('R', layer.recurrentWeight);
  const s = constant('ActScale', layer.actScale);
  const b = layer.bias === undefined ? undefined : constant('B', layer.bias);
  const [directions, rows, hidden] = r.dims;
  const op: keyof typeof RECURRENT_OPS = node.opType.endsWith('GRU') ? 'GRU' : 'LSTM';
  const lstm = op === 'LSTM';
  const underReset = !lstm && attrInt(node, 'linear_before_reset', 0) !== 0;
  const inputSize = w.dims[2];
  const rule = node.attributes.gate_rule?.type === 'string' ? node.attributes.gate_rule.value : DEFAULT_RECURRENT_GATE_RULE;
  const gateRule = RECURRENT_GATE_RULES.find((g) => g === rule);
  if (layer.gated && !gateRule)
    throw new UnsupportedModelError(`${where}: node '${node.name}' (${node.opType}) has gate_rule '${rule}', none of ${RECURRENT_GATE_RULES.join(', ')}`);
  const n = levels(layer.bits);
  const step = layer.gated ? 2 ** (layer.bits - layer.hbits!) : null;
  const scale = floatData(s)[0];
  const weights = directionCodes(w, layer.wbits, file);
  const recurrentWeights = directionCodes(r, layer.wbits, file);
  const nw = weights.levels;
  const accumulator = (actScale: number, ws: HwRecurrentWeights, fanIn: number) => ({
    scale: ws.scale.map((sw) => (actScale / n) * (sw / nw)),
    bits: accumulatorBits(fanIn, n, nw),
    fan_in: fanIn,
  });
  const params: Record<string, HwTensorRef> = {};
  for (let i = FIRST_STATE_INPUT; i < RECURRENT_OPS[op].inputs; i++) {
    const t = init(node.inputs[i]);
    if (t) params[t.name] = tensorRef(t, file, where);
  }
  const direction = node.attributes.direction?.type === 'string' ? node.attributes.direction.value : 'forward';
  return {
    kind: layer.gated ? 'gated' : 'quantized',
    op,
    name: node.name,
    inputs: Array.from({ length: RECURRENT_OPS[op].inputs }, (_, i) => node.inputs[i] ?? ''),
    outputs: Array.from({ length: RECURRENT_OPS[op].outputs }, (_, i) => node.outputs[i] ?? ''),
    direction: direction as HwRecurrentLayer['direction'],
    hidden_size: hidden,
    input_size: inputSize,
    layout: attrInt(node, 'layout', 0),
    clip: attrFloat(node, 'clip') ?? null,
    input_forget: lstm ? attrInt(node, 'input_forget', 0) : null,
    linear_before_reset: lstm ? null : Number(underReset),
    gate_order: [...RECURRENT_OPS[op].gates],
    activation: { bits: layer.bits, hbits: layer.hbits, step, levels: n, scale },
    state_activation: { bits: layer.bits, hbits: layer.hbits, step, levels: n, scale: 1 },
    weights,
    recurrent_weights: recurrentWeights,
    accumulator: { input: accumulator(scale, weights, inputSize), state: accumulator(1, recurrentWeights, hidden) },
    bias: b ? splitBias(b, directions, rows, hidden, underReset, file) : null,
    threshold: layer.gated ? { float: file.add('float32', [directions, rows], floatData(constant('Threshold', layer.threshold))), acc: null } : null,
    gate: layer.gated ? 'recurrent' : null,
    gate_rule: layer.gated ? gateRule! : null,
    gated_off: layer.gated ? 'prediction' : null,
    params,
  };
}
