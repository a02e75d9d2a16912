import { constTensor, type AttributeValue, type ConstTensor, type Model } from '../../src/graph/index.js';
import type { HostTensor } from '../../src/engines/index.js';
import { buildModel, int, node, sineTensor, valueInfo } from './model-builder.js';

// One recurrent node (RNN, GRU, LSTM) built with every attribute and optional input a test asks for, and its input
// X: for the tests of ONNX's recurrent ops and of pg's gated LSTM against ONNX Runtime.

export type Kind = 'LSTM' | 'GRU' | 'RNN';
const GATES: Record<Kind, number> = { LSTM: 4, GRU: 3, RNN: 1 };

export interface Options {
  direction?: 'forward' | 'reverse' | 'bidirectional';
  layout?: 0 | 1;
  lengths?: number[];
  initial?: boolean;
  bias?: boolean;
  peepholes?: boolean;
  attrs?: Record<string, AttributeValue>;
  /** Which outputs the node names ('' leaves one out). */
  outputs?: string[];
  opset?: number;
}

export const T = 5;
export const N = 3;
export const F = 4;
export const H = 6;

/** One recurrent node over graph input X, its weights and optional inputs as initializers. */
export function recurrentModel(kind: Kind, o: Options = {}): Model {
  const d = o.direction === 'bidirectional' ? 2 : 1;
  const g = GATES[kind];
  const layout = o.layout ?? 0;
  const state = [d, N, H];
  const inits: ConstTensor[] = [sineTensor('W', [d, g * H, F], 1, { step: 0.37, scale: 0.5 }), sineTensor('R', [d, g * H, H], 2, { step: 0.53, scale: 0.4 })];
  const inputs = ['X', 'W', 'R', '', '', '', '', ''];
  if (o.bias) {
    inits.push(sineTensor('B', [d, 2 * g * H], 3, { step: 0.29, scale: 0.3 }));
    inputs[3] = 'B';
  }
  if (o.lengths) {
    inits.push(constTensor('L', 'int32', [N], Int32Array.from(o.lengths)));
    inputs[4] = 'L';
  }
  if (o.initial) {
    inits.push(batchMajor(sineTensor('H0', state, 4, { step: 0.61 }), layout));
    inputs[5] = 'H0';
    if (kind === 'LSTM') {
      inits.push(batchMajor(sineTensor('C0', state, 5, { step: 0.43 }), layout));
      inputs[6] = 'C0';
    }
  }
  if (o.peepholes) {
    inits.push(sineTensor('P', [d, 3 * H], 6, { step: 0.71, scale: 0.5 }));
    inputs[7] = 'P';
  }
  while (inputs[inputs.length - 1] === '') inputs.pop();
  const outputs = o.outputs ?? (kind === 'LSTM' ? ['Y', 'Y_h', 'Y_c'] : ['Y', 'Y_h']);
  const attrs: Record<string, AttributeValue> = { hidden_size: int(H), ...o.attrs };
  if (o.direction) attrs.direction = { type: 'string', value: o.direction };
  if (o.layout !== undefined) attrs.layout = int(o.layout);
  return buildModel({
    opset: o.opset ?? 14,
    nodes: [node(kind, inputs, outputs, attrs, 'rnn')],
    initializers: inits,
    inputs: [valueInfo('X', layout === 1 ? [N, T, F] : [T, N, F])],
    outputs: outputs.filter(Boolean).map((n) => valueInfo(n)),
  });
}

/** [A, B, rest] as [B, A, rest] (a row-major copy). */
export function swapLeading(data: ArrayLike<number>, shape: number[]): { data: Float32Array; shape: number[] } {
  const [a, b, ...rest] = shape;
  const inner = rest.reduce((p, q) => p * q, 1);
  const out = new Float32Array(data.length);
  for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) for (let k = 0; k < inner; k++) out[(j * a + i) * inner + k] = data[(i * b + j) * inner + k];
  return { data: out, shape: [b, a, ...rest] };
}

/** A state [D, N, H] in the node's layout (1: [N, D, H]). */
function batchMajor(t: ConstTensor, layout: 0 | 1): ConstTensor {
  if (layout === 0) return t;
  const s = swapLeading(t.data() as Float32Array, t.dims);
  return constTensor(t.name, 'float32', s.shape, s.data);
}

export const xFeed = (layout: 0 | 1 = 0): Record<string, HostTensor> => {
  const x = sineTensor('X', [T, N, F], 0.3, { step: 0.41, scale: 1.5 });
  return { X: layout === 0 ? { dtype: 'float32', shape: x.dims, data: x.data() as Float32Array } : { dtype: 'float32', ...swapLeading(x.data() as Float32Array, x.dims) } };
};

/**
 * Where the h codes (round(clip(h, −1, 1)·(2^B − 1))) of two runs' Y [T, D, N, H] first differ (undefined: nowhere):
 * the step, and how far the first run's h·(2^B − 1) lay from the rounding boundary there (in codes).
 */
export function firstCodeFlip(ours: Float32Array, theirs: Float32Array, steps: number, bits: number): { step: number; boundary: number } | undefined {
  const n = 2 ** bits - 1;
  const code = (h: number) => Math.round(Math.max(-1, Math.min(1, h)) * n);
  const perStep = ours.length / steps;
  for (let t = 0; t < steps; t++) {
    let boundary = Infinity;
    for (let i = t * perStep; i < (t + 1) * perStep; i++) {
      if (code(ours[i]) !== code(theirs[i])) boundary = Math.min(boundary, Math.abs(Math.abs(ours[i] * n - Math.trunc(ours[i] * n)) - 0.5));
    }
    if (boundary < Infinity) return { step: t, boundary };
  }
  return undefined;
}

/** Every option of ONNX's LSTM that pg's PGLSTM runs, as test cases (label, options). */
export const LSTM_OPTION_CASES: [string, Options][] = [
  ['forward, bias and initial states', { bias: true, initial: true }],
  ['reverse', { direction: 'reverse', bias: true, initial: true }],
  ['bidirectional', { direction: 'bidirectional', bias: true, initial: true }],
  ['bidirectional, layout 1', { direction: 'bidirectional', layout: 1, bias: true, initial: true }],
  ['bidirectional with sequence_lens (one of them 0), layout 0', { direction: 'bidirectional', bias: true, initial: true, lengths: [T, 2, 0] }],
  ['reverse with sequence_lens, layout 1', { direction: 'reverse', layout: 1, bias: true, initial: true, lengths: [3, T, 1] }],
  ['without B and initial states (zeros)', { direction: 'bidirectional' }],
  ['peepholes', { direction: 'bidirectional', bias: true, initial: true, peepholes: true }],
  ['clip', { direction: 'bidirectional', bias: true, attrs: { clip: { type: 'float', value: 0.4 } } }],
  ['input_forget', { bias: true, initial: true, attrs: { input_forget: int(1) } }],
  ['Y left out (Y_h and Y_c only)', { direction: 'bidirectional', bias: true, outputs: ['', 'Y_h', 'Y_c'] }],
];

const lbr = { linear_before_reset: int(1) };
/** Every option of ONNX's GRU that pg's PGGRU runs (linear_before_reset 0 and 1), as test cases (label, options). */
export const GRU_OPTION_CASES: [string, Options][] = [
  ['forward, bias and initial state', { bias: true, initial: true }],
  ['forward, linear_before_reset, bias and initial state', { bias: true, initial: true, attrs: lbr }],
  ['reverse, linear_before_reset', { direction: 'reverse', bias: true, initial: true, attrs: lbr }],
  ['bidirectional, layout 1', { direction: 'bidirectional', layout: 1, bias: true, initial: true }],
  ['bidirectional with sequence_lens (one of them 0), linear_before_reset', { direction: 'bidirectional', bias: true, initial: true, lengths: [T, 2, 0], attrs: lbr }],
  ['without B and initial state (zeros), linear_before_reset', { direction: 'bidirectional', attrs: lbr }],
  ['clip', { direction: 'bidirectional', bias: true, attrs: { clip: { type: 'float', value: 0.4 } } }],
  ['Y left out (Y_h only)', { direction: 'bidirectional', bias: true, attrs: lbr, outputs: ['', 'Y_h'] }],
];
