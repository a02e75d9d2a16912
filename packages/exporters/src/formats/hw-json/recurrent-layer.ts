import { attrFloat, attrInt, UnsupportedModelError, type ConstTensor, type Model, type Node, type PgLayer } from '@pg/core';
import type { HwRecurrentLayer, HwRecurrentWeights, HwTensorRef } from './format.js';
import { accumulatorBits, levels, weightCodes } from './integer-params.js';
import { floatData, intTensor, tensorRef, type TensorFileBuilder } from './tensor-file.js';

// A PGLSTM/QLSTM as hw-json describes it (docs/hw-json.md, step 7): integer codes of W and R per direction, x's and
// h's quantizers, the two accumulations' units, the bias and the thresholds in float32 (the gate compares a float32
// sum of the two accumulations' values with Δ, so no threshold in accumulator units exists).

/** The gate rows of an LSTM's W, R, B and z, in ONNX's order. */
const LSTM_GATES = ['i', 'o', 'f', 'c'];
/** LSTM inputs past X, W, R, B: described as graph values or constant params. */
const STATE_INPUTS = [4, 5, 6, 7];
const GATE_RULES = ['above', 'magnitude', 'knee'] as const;

/** PGLSTM and QLSTM; pg's other recurrent layers (PGGRU/QGRU) are refused naming the node. */
export const isHwRecurrentOp = (node: Node): boolean => node.opType === 'PGLSTM' || node.opType === 'QLSTM';

/** Refuses a recurrent pg layer hw-json does not describe (a GRU), naming it and what to do instead. */
export function refuseUndescribedRecurrent(layers: PgLayer[], where: string): void {
  const gru = layers.find((l) => l.recurrentWeight !== undefined && !isHwRecurrentOp(l.node));
  if (!gru) return;
  throw new UnsupportedModelError(
    `${where}: layer '${gru.node.name}' (${gru.node.opType}) cannot be exported as hw-json: it describes gated and quantized LSTMs (PGLSTM, QLSTM), not yet GRUs, whose hidden gate is decided after the reset gate within a step`,
    {
      action: `export it with --format onnx (standard ONNX: a Scan over the steps, with pg's gate decisions) or --format onnx-pg; or convert with --exclude ${gru.node.name} (the GRU stays float) to describe the rest as hw-json`,
    },
  );
}

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

/** b = f32(Wb + Rb) per direction and gate row [D, G·H]: the bias pg adds to x's products. */
function inputBias(b: ConstTensor, directions: number, rows: number): Float32Array {
  const data = floatData(b);
  return Float32Array.from({ length: directions * rows }, (_, i) => {
    const d = Math.floor(i / rows);
    const g = i % rows;
    return Math.fround(data[d * 2 * rows + g] + data[d * 2 * rows + rows + g]);
  });
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
  const inputSize = w.dims[2];
  const rule = node.attributes.gate_rule?.type === 'string' ? node.attributes.gate_rule.value : 'knee';
  const gateRule = GATE_RULES.find((g) => g === rule);
  if (layer.gated && !gateRule) throw new UnsupportedModelError(`${where}: node '${node.name}' (${node.opType}) has gate_rule '${rule}', none of ${GATE_RULES.join(', ')}`);
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
  for (const i of STATE_INPUTS) {
    const t = init(node.inputs[i]);
    if (t) params[t.name] = tensorRef(t, file, where);
  }
  const direction = node.attributes.direction?.type === 'string' ? node.attributes.direction.value : 'forward';
  return {
    kind: layer.gated ? 'gated' : 'quantized',
    op: 'LSTM',
    name: node.name,
    inputs: Array.from({ length: 8 }, (_, i) => node.inputs[i] ?? ''),
    outputs: Array.from({ length: 3 }, (_, i) => node.outputs[i] ?? ''),
    direction: direction as HwRecurrentLayer['direction'],
    hidden_size: hidden,
    input_size: inputSize,
    layout: attrInt(node, 'layout', 0),
    clip: attrFloat(node, 'clip') ?? null,
    input_forget: attrInt(node, 'input_forget', 0),
    gate_order: LSTM_GATES,
    activation: { bits: layer.bits, hbits: layer.hbits, step, levels: n, scale },
    state_activation: { bits: layer.bits, hbits: layer.hbits, step, levels: n, scale: 1 },
    weights,
    recurrent_weights: recurrentWeights,
    accumulator: { input: accumulator(scale, weights, inputSize), state: accumulator(1, recurrentWeights, hidden) },
    bias: b ? { float: file.add('float32', [directions, rows], inputBias(b, directions, rows)) } : null,
    threshold: layer.gated ? { float: file.add('float32', [directions, rows], floatData(constant('Threshold', layer.threshold))), acc: null } : null,
    gate: layer.gated ? 'recurrent' : null,
    gate_rule: layer.gated ? gateRule! : null,
    gated_off: layer.gated ? 'prediction' : null,
    params,
  };
}
