import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel, float, floatScalar, int, int64Scalar, int64s, ints, node, sineTensor, valueInfo } from '../../../test/support/model-builder.js';
import type { ConstTensor, Dim, Model, Node } from '../../graph/index.js';
import { initBackend } from '../backend.js';
import { Executor } from '../executor.js';
import { OpRegistry } from '../registry.js';
import { ONNX_OPS } from './index.js';

const onnxOps = new OpRegistry(ONNX_OPS);

// Exported CNNs mix NHWC-carried activations with ops that see the logical NCHW layout (ShuffleNet's
// channel shuffle, Flatten/Reshape before the classifier) and with shape arithmetic that must run when
// the batch is dynamic. These graphs check both against the same computation written directly in NCHW.

beforeAll(async () => {
  await initBackend('wasm');
});

const model = (nodes: Node[], inits: ConstTensor[], input: Dim[], opset = 13): Model =>
  buildModel({ nodes, initializers: inits, inputs: [valueInfo('x', input)], outputs: [valueInfo('y')], opset });

/** 1x1 convolution in NCHW: y[n, o] = sum_c w[o, c] x[n, c]. */
function conv1x1(x: tf.Tensor, w: ConstTensor): tf.Tensor {
  const [n, c, h, wd] = x.shape;
  const wt = tf.reshape(tf.tensor(w.data() as Float32Array, w.dims), [w.dims[0], c]);
  return tf.reshape(tf.matMul(wt, tf.reshape(x, [n, c, h * wd])), [n, w.dims[0], h, wd]);
}

function expectClose(a: tf.Tensor, b: tf.Tensor): void {
  expect(a.shape).toEqual(b.shape);
  const x = a.dataSync();
  const y = b.dataSync();
  x.forEach((v, i) => expect(Math.abs(v - y[i])).toBeLessThan(1e-4 * Math.max(1, Math.abs(y[i]))));
}

describe('layout across Reshape/Transpose/Flatten', () => {
  it("runs ShuffleNet's channel shuffle between convolutions", () => {
    const w1 = sineTensor('w1', [8, 8, 1, 1], 1);
    const w2 = sineTensor('w2', [8, 8, 1, 1], 2);
    const m = model(
      [
        node('Conv', ['x', 'w1'], ['a']),
        node('Reshape', ['a', 's5'], ['b']),
        node('Transpose', ['b'], ['c'], { perm: ints([0, 2, 1, 3, 4]) }),
        node('Reshape', ['c', 's4'], ['d']),
        node('Conv', ['d', 'w2'], ['e']),
        node('Flatten', ['e'], ['y']),
      ],
      [w1, w2, int64s('s5', [2, 2, 4, 3, 5]), int64s('s4', [2, 8, 3, 5])],
      [2, 8, 3, 5],
    );
    const x = tf.randomNormal([2, 8, 3, 5], 0, 1, 'float32', 3);
    const exec = new Executor(m, { registry: onnxOps });
    const y = exec.run({ x }).y;
    const a = conv1x1(x, w1);
    const shuffled = tf.reshape(tf.transpose(tf.reshape(a, [2, 2, 4, 3, 5]), [0, 2, 1, 3, 4]), [2, 8, 3, 5]);
    expectClose(y, tf.reshape(conv1x1(shuffled, w2), [2, -1]));
    exec.dispose();
  });

  it('splits, pads, slices and reduces NHWC activations by their logical axes', () => {
    const w1 = sineTensor('w1', [6, 3, 1, 1], 1);
    const m = model(
      [
        node('Conv', ['x', 'w1'], ['a']),
        node('Split', ['a', 'sizes'], ['b1', 'b2'], { axis: int(1) }),
        node('Pad', ['b2', 'pads'], ['c']),
        node('Slice', ['c', 'starts', 'ends', 'axes', 'steps'], ['d']),
        node('ReduceMean', ['d'], ['e'], { axes: ints([3]), keepdims: int(0) }),
        node('Flatten', ['e'], ['f']),
        node('Flatten', ['b1'], ['g']),
        node('Concat', ['f', 'g'], ['y'], { axis: int(1) }),
      ],
      [
        w1,
        int64s('sizes', [2, 4]),
        int64s('pads', [0, 0, 1, 0, 0, 1, 0, 2]),
        int64s('starts', [3, 0]),
        int64s('ends', [-100, 100]),
        int64s('axes', [1, 2]),
        int64s('steps', [-2, 2]),
      ],
      [2, 3, 4, 5],
    );
    const x = tf.randomNormal([2, 3, 4, 5], 0, 1, 'float32', 4);
    const exec = new Executor(m, { registry: onnxOps });
    const y = exec.run({ x }).y;
    const a = conv1x1(x, w1);
    const [b1, b2] = tf.split(a, [2, 4], 1);
    const c = tf.pad(b2, [
      [0, 0],
      [0, 1],
      [1, 0],
      [0, 2],
    ]);
    // channels 3, 1 (step -2 from 3); rows 0, 2, 4 of the padded 5.
    const d = tf.gather(tf.gather(c, tf.tensor1d([3, 1], 'int32'), 1), tf.tensor1d([0, 2, 4], 'int32'), 2);
    expectClose(y, tf.concat([tf.reshape(tf.mean(d, 3), [2, -1]), tf.reshape(b1, [2, -1])], 1));
    exec.dispose();
  });
});

describe('shape arithmetic with a dynamic batch', () => {
  // What PyTorch emits for x.view(x.size(0), -1), x.expand(b, -1) and torch.arange(b), batch unknown.
  const w1 = sineTensor('w1', [4, 3, 1, 1], 1);
  const bias = sineTensor('bias', [1, 16], 5);
  const m = model(
    [
      node('Conv', ['x', 'w1'], ['a']),
      node('Shape', ['a'], ['shape']),
      node('Gather', ['shape', 'zeroScalar'], ['batch'], { axis: int(0) }),
      node('Unsqueeze', ['batch', 'axes0'], ['batch1']),
      node('Concat', ['batch1', 'minus1'], ['target'], { axis: int(0) }),
      node('Reshape', ['a', 'target'], ['flat']),
      // Expand's shape: Where(Equal(target, -1), ones, target), as the exporter writes it.
      node('ConstantOfShape', ['two'], ['ones'], { value: { type: 'tensor', value: int64s('v', [1]) } }),
      node('Equal', ['target', 'minus1'], ['isneg']),
      node('Where', ['isneg', 'ones', 'target'], ['eshape']),
      node('Expand', ['bias', 'eshape'], ['bexp']),
      node('Add', ['flat', 'bexp'], ['sum']),
      node('Range', ['zeroScalar', 'batch', 'oneScalar'], ['idx']),
      node('Cast', ['idx'], ['idxf'], { to: int(1) }),
      node('Unsqueeze', ['idxf', 'axes1'], ['idxcol']),
      node('Add', ['sum', 'idxcol'], ['y']),
    ],
    [w1, bias, int64s('axes0', [0]), int64s('axes1', [1]), int64s('minus1', [-1]), int64s('two', [2]), int64Scalar('zeroScalar', 0), int64Scalar('oneScalar', 1)],
    ['N', 3, 2, 2],
  );

  for (const n of [1, 3]) {
    it(`runs with batch ${n} on one executor`, () => {
      const exec = new Executor(m, { registry: onnxOps });
      const x = tf.randomNormal([n, 3, 2, 2], 0, 1, 'float32', n);
      const y = exec.run({ x }).y;
      const flat = tf.reshape(conv1x1(x, w1), [n, 16]);
      const ref = tf.add(tf.add(flat, tf.tensor(bias.data() as Float32Array, [1, 16])), tf.reshape(tf.range(0, n), [n, 1]));
      expectClose(y, ref);
      exec.dispose();
    });
  }
});

describe('per-opset semantics', () => {
  it('broadcasts by axis before opset 7 (Add with broadcast=1, axis=1)', () => {
    const b = sineTensor('b', [3], 2);
    const m = model([node('Add', ['x', 'b'], ['y'], { broadcast: int(1), axis: int(1) })], [b], [2, 3, 4], 6);
    const x = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 1);
    const exec = new Executor(m, { registry: onnxOps });
    expectClose(exec.run({ x }).y, tf.add(x, tf.reshape(tf.tensor(b.data() as Float32Array), [3, 1])));
    exec.dispose();
  });

  it('reads Clip bounds from attributes before opset 11 and from inputs after', () => {
    const x = tf.tensor([-3, -1, 0, 2, 7, 9], [1, 6]);
    const old = new Executor(model([node('Clip', ['x'], ['y'], { min: float(-1), max: float(6) })], [], [1, 6], 9), { registry: onnxOps });
    expect(Array.from(old.run({ x }).y.dataSync())).toEqual([-1, -1, 0, 2, 6, 6]);
    const lo = floatScalar('lo', 0);
    const hi = floatScalar('hi', 6);
    const now = new Executor(model([node('Clip', ['x', 'lo', 'hi'], ['y'])], [lo, hi], [1, 6], 13), { registry: onnxOps });
    expect(Array.from(now.run({ x }).y.dataSync())).toEqual([0, 0, 0, 2, 6, 6]);
    const onlyMax = new Executor(model([node('Clip', ['x', '', 'hi'], ['y'])], [hi], [1, 6], 13), { registry: onnxOps });
    expect(Array.from(onlyMax.run({ x }).y.dataSync())).toEqual([-3, -1, 0, 2, 6, 6]);
  });

  it('reads Split sizes and Squeeze/Unsqueeze axes from attributes before opset 13', () => {
    const m = model(
      [
        node('Split', ['x'], ['a', 'b'], { axis: int(1), split: ints([1, 3]) }),
        node('Unsqueeze', ['b'], ['c'], { axes: ints([0]) }),
        node('Squeeze', ['c'], ['y'], { axes: ints([0]) }),
      ],
      [],
      [2, 4],
      11,
    );
    const x = tf.tensor([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ]);
    expect(new Executor(m, { registry: onnxOps }).run({ x }).y.arraySync()).toEqual([
      [2, 3, 4],
      [6, 7, 8],
    ]);
  });

  it('reads ReduceMean axes from an input from opset 18, Split parts from num_outputs', () => {
    const m = model(
      [node('Split', ['x'], ['a', 'b'], { axis: int(1), num_outputs: int(2) }), node('ReduceMean', ['b', 'ax'], ['y'], { keepdims: int(0) })],
      [int64s('ax', [1])],
      [2, 5],
      18,
    );
    const x = tf.tensor([
      [1, 2, 3, 4, 5],
      [6, 7, 8, 9, 10],
    ]);
    expect(Array.from(new Executor(m, { registry: onnxOps }).run({ x }).y.dataSync())).toEqual([4.5, 9.5]);
  });
});
