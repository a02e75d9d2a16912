import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Executor,
  InvalidModelError,
  OnnxRuntimeEngine,
  UnsupportedModelError,
  initBackend,
  opRegistry,
  readModel,
  type AttributeValue,
  type ConstTensor,
  type HostTensor,
  type Model,
} from '../src/internal.js';
import { activeNativeKernels } from '../src/interpreter/native/index.js';
import { disableNativeConv, enableNativeConv } from '../src/interpreter/native/enable.js';
import { FIXTURES } from './fixtures.js';
import { skipNote } from './support/skip.js';
import { int } from './support/model-builder.js';
import { H, T, recurrentModel, swapLeading, xFeed, type Kind, type Options } from './support/recurrent-models.js';

// ONNX's LSTM, GRU and RNN on pg's runtime: PyTorch's exports (fixtures/make_recurrent.py) against PyTorch's own
// outputs and gradients and against ONNX Runtime, and every attribute and optional input, built here, against
// ONNX Runtime.

// Started here, not in beforeAll: whether the addon is on decides which suites run.
await initBackend('wasm');

interface Named {
  shape: number[];
  data: number[];
}
interface ExportCase {
  inputs: Record<string, Named>;
  outputs: Record<string, Named>;
  loss_weights: Record<string, Named>;
  gradients: Record<string, Named>;
}
const DIR = `${FIXTURES}models/recurrent/`;
const expected = JSON.parse(readFileSync(`${DIR}expected.json`, 'utf8')) as Record<string, ExportCase>;

/** Largest |a − b| over the largest |b| (at least 1): both 1e-4 targets are on this scale. */
function scaledDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let scale = 1;
  let worst = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst / scale;
}

const isNamed = (t: Named | ConstTensor): t is Named => 'shape' in t && Array.isArray(t.data);
const host = (t: Named | ConstTensor): HostTensor =>
  isNamed(t) ? { dtype: 'float32', shape: t.shape, data: Float32Array.from(t.data) } : { dtype: t.dtype as 'float32', shape: t.dims, data: t.data() as Float32Array };

/** pg's outputs of `model` for the feeds, by output name. */
function runPg(model: Model, feeds: Record<string, HostTensor>): Record<string, Float32Array> {
  const exec = new Executor(model, { registry: opRegistry });
  try {
    return tf.tidy(() => {
      const out = exec.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, tf.tensor(v.data as Float32Array, v.shape, v.dtype === 'int32' ? 'int32' : 'float32')])));
      return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.dataSync() as Float32Array]));
    });
  } finally {
    exec.dispose();
  }
}

async function runOrt(model: Model, feeds: Record<string, HostTensor>): Promise<Record<string, { shape: number[]; data: Float32Array }>> {
  const session = await new OnnxRuntimeEngine().load(model);
  try {
    const out = await session.run(
      feeds,
      model.graph.outputs.map((o) => o.name),
    );
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, { shape: [...t.shape], data: t.data as Float32Array }]));
  } finally {
    await session.dispose();
  }
}

async function expectAgreement(model: Model, feeds: Record<string, HostTensor>): Promise<void> {
  const ours = runPg(model, feeds);
  const theirs = await runOrt(model, feeds);
  for (const o of model.graph.outputs) {
    expect(ours[o.name].length, o.name).toBe(theirs[o.name].data.length);
    expect(scaledDifference(ours[o.name], theirs[o.name].data), o.name).toBeLessThan(1e-4);
  }
}

const addon = activeNativeKernels() !== undefined;

// A plain LSTM runs its recurrence in the addon when it is on, and in tfjs ops otherwise: both are checked.
describe.each([
  ['tfjs ops', false],
  [`the addon's LSTM kernels${skipNote(addon, 'the native addon is not built (pnpm build with libdnnl-dev and g++)')}`, true],
] as const)("PyTorch's exports, recurrence in %s", (_label, native) => {
  beforeAll(() => {
    if (!native) disableNativeConv();
  });
  afterAll(() => {
    if (!native) enableNativeConv();
  });
  const test = native && !addon ? it.skip : it;

  test.each(Object.keys(expected))('%s: Y, Y_h (and Y_c) agree with PyTorch and ONNX Runtime to 1e-4', async (name) => {
    const model = await readModel(`${DIR}${name}.onnx`);
    const ex = expected[name];
    const feeds = Object.fromEntries(Object.entries(ex.inputs).map(([k, v]) => [k, host(v)]));
    const ours = runPg(model, feeds);
    for (const [k, v] of Object.entries(ex.outputs)) expect(scaledDifference(ours[k], v.data), `${k} against PyTorch`).toBeLessThan(1e-4);
    await expectAgreement(model, feeds);
  });

  test.each(Object.keys(expected))("%s: training gradients (inputs, first layer's W, R, B) agree with PyTorch's autograd to 1e-4", async (name) => {
    const model = await readModel(`${DIR}${name}.onnx`);
    const ex = expected[name];
    const first = model.graph.nodes.find((n) => n.opType === 'LSTM' || n.opType === 'GRU')!;
    const [wName, rName, bName] = first.inputs.slice(1, 4);
    const exec = new Executor(model, { registry: opRegistry });
    try {
      const inputNames = Object.keys(ex.inputs);
      const grads = tf.tidy(() => {
        const xs = inputNames.map((k) => tf.tensor(ex.inputs[k].data, ex.inputs[k].shape));
        const params = [wName, rName, bName].map((n) => exec.param(n)!);
        const loss = (...ts: tf.Tensor[]) => {
          [wName, rName, bName].forEach((n, i) => exec.setParam(n, ts[inputNames.length + i]));
          const out = exec.run(Object.fromEntries(inputNames.map((k, i) => [k, ts[i]])), { training: true });
          return tf.addN(Object.entries(ex.loss_weights).map(([k, w]) => tf.sum(tf.mul(out[k], tf.tensor(w.data, w.shape))))) as tf.Scalar;
        };
        return tf
          .grads(loss)([...xs, ...params])
          .map((g) => g.dataSync() as Float32Array);
      });
      const names = [...inputNames, 'W0', 'R0', 'B0'];
      names.forEach((k, i) => expect(scaledDifference(grads[i], ex.gradients[k].data), `d loss / d ${k}`).toBeLessThan(1e-4));
    } finally {
      exec.dispose();
    }
  });

  test('the LSTMs run where this suite says', async () => {
    const model = await readModel(`${DIR}lstm-2layer-bidirectional.onnx`);
    const feeds = Object.fromEntries(Object.entries(expected['lstm-2layer-bidirectional'].inputs).map(([k, v]) => [k, host(v)]));
    const info = await tf.profile(() => {
      runPg(model, feeds);
    });
    expect(info.kernelNames.includes('PgLstmForward')).toBe(native);
  });
});

/**
 * ONNX Runtime's CPU kernels refuse layout 1, so the batch-major node is checked against ONNX Runtime running
 * the same node in layout 0 on the transposed input, its outputs transposed back.
 */
async function expectLayoutAgreement(kind: Kind, o: Options): Promise<void> {
  if ((o.layout ?? 0) === 0) return expectAgreement(recurrentModel(kind, o), xFeed());
  const model = recurrentModel(kind, o);
  const ours = runPg(model, xFeed(1));
  const theirs = await runOrt(recurrentModel(kind, { ...o, layout: 0 }), xFeed(0));
  for (const out of model.graph.outputs) {
    const t = theirs[out.name];
    // Y [T, D, N, H] -> [N, T, D, H]: move N to the front; the states [D, N, H] -> [N, D, H].
    let want = t.data as ArrayLike<number>;
    if (t.shape.length === 4) {
      const [steps, d, n, h] = t.shape;
      const moved = new Float32Array(want.length);
      for (let a = 0; a < steps; a++)
        for (let b = 0; b < d; b++) for (let c = 0; c < n; c++) for (let k = 0; k < h; k++) moved[((c * steps + a) * d + b) * h + k] = want[((a * d + b) * n + c) * h + k];
      want = moved;
    } else {
      want = swapLeading(want, t.shape).data;
    }
    expect(scaledDifference(ours[out.name], want), out.name).toBeLessThan(1e-4);
  }
}

const DIRECTIONS = ['forward', 'reverse', 'bidirectional'] as const;

describe.each(['LSTM', 'GRU', 'RNN'] as const)('%s against ONNX Runtime', (kind) => {
  it.each(DIRECTIONS)('%s, layouts 0 and 1 (1 against 0 in ONNX Runtime, which refuses 1), with bias and initial states', async (direction) => {
    for (const layout of [0, 1] as const) await expectLayoutAgreement(kind, { direction, layout, bias: true, initial: true });
  });

  it.each(DIRECTIONS)('%s with sequence_lens (shorter sequences keep their state and output zeros), layouts 0 and 1', async (direction) => {
    for (const layout of [0, 1] as const) await expectLayoutAgreement(kind, { direction, layout, bias: true, initial: true, lengths: [T, 2, 4] });
  });

  it('without B and initial states (zeros), at opset 7', async () => {
    await expectAgreement(recurrentModel(kind, { direction: 'bidirectional', opset: 7 }), xFeed());
  });

  it('with clip', async () => {
    await expectAgreement(recurrentModel(kind, { direction: 'bidirectional', bias: true, attrs: { clip: { type: 'float', value: 0.4 } } }), xFeed());
  });

  it('asked for Y_h only (Y left out)', async () => {
    const outputs = kind === 'LSTM' ? ['', 'Y_h'] : ['', 'Y_h'];
    await expectAgreement(recurrentModel(kind, { direction: 'bidirectional', bias: true, outputs }), xFeed());
  });
});

describe('options of one op', () => {
  it('LSTM peepholes, with sequence_lens (one of them 0) and both directions', async () => {
    await expectAgreement(recurrentModel('LSTM', { direction: 'bidirectional', bias: true, initial: true, peepholes: true, lengths: [3, T, 0] }), xFeed());
  });

  it('LSTM input_forget (the forget gate is 1 − the input gate)', async () => {
    await expectAgreement(recurrentModel('LSTM', { bias: true, initial: true, attrs: { input_forget: int(1) } }), xFeed());
  });

  it('GRU linear_before_reset 0 and 1 (PyTorch exports 1)', async () => {
    for (const lbr of [0, 1])
      await expectAgreement(recurrentModel('GRU', { direction: 'bidirectional', bias: true, initial: true, attrs: { linear_before_reset: int(lbr) } }), xFeed());
  });

  it('the default activations, named explicitly, run', async () => {
    const activations: AttributeValue = { type: 'strings', value: ['Sigmoid', 'Tanh', 'Tanh', 'Sigmoid', 'Tanh', 'Tanh'] };
    await expectAgreement(recurrentModel('LSTM', { direction: 'bidirectional', attrs: { activations } }), xFeed());
  });
});

describe('bad models', () => {
  it('other activations are refused, naming the node', () => {
    const model = recurrentModel('LSTM', { attrs: { activations: { type: 'strings', value: ['HardSigmoid', 'Tanh', 'Tanh'] } } });
    expect(() => runPg(model, xFeed())).toThrow(UnsupportedModelError);
    expect(() => runPg(model, xFeed())).toThrow(/node 'rnn' \(LSTM\): activations \[HardSigmoid, Tanh, Tanh\]: pg runs only ONNX's default ones/);
  });

  it('sequence_lens beyond T, a wrong R shape and an unknown direction are errors naming the node', () => {
    expect(() => runPg(recurrentModel('GRU', { lengths: [T, T + 1, 2] }), xFeed())).toThrow(/node 'rnn' \(GRU\): sequence_lens\[1\] is 6, outside 0..5/);
    const wrongHidden = recurrentModel('LSTM', { attrs: { hidden_size: int(H + 1) } });
    expect(() => runPg(wrongHidden, xFeed())).toThrow(InvalidModelError);
    expect(() => runPg(wrongHidden, xFeed())).toThrow(/node 'rnn' \(LSTM\): R has shape \[1, 24, 6\], expected \[1, 28, 7\]/);
    const sideways = recurrentModel('RNN', { attrs: { direction: { type: 'string', value: 'sideways' } } });
    expect(() => runPg(sideways, xFeed())).toThrow(/direction 'sideways' is none of forward, reverse, bidirectional/);
  });

  it('opsets before 7 (output_sequence) are outside what pg runs, as in ONNX Runtime', () => {
    expect(() => new Executor(recurrentModel('LSTM', { opset: 6 }), { registry: opRegistry })).toThrow(/\(LSTM\) at opset 6 is outside what pg supports \(7\+\)/);
  });
});
