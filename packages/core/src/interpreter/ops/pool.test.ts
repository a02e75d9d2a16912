import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel, int, ints, node, valueInfo } from '../../../test/support/model-builder.js';
import { initBackend } from '../backend.js';
import { Executor } from '../executor.js';
import { OpRegistry } from '../registry.js';
import { ONNX_OPS } from './index.js';

const onnxOps = new OpRegistry(ONNX_OPS);

// MaxPool with explicit pads runs on tfjs-wasm's own padding (no padded copy): it must give exactly the
// values of pooling the input padded with the lowest float, including all-negative windows at the borders.

beforeAll(async () => {
  await initBackend('wasm');
});

describe('MaxPool with pads', () => {
  it.each([
    ['symmetric pads', [1, 1, 1, 1], 0],
    ['asymmetric pads', [0, 1, 1, 0], 0],
    ['ceil_mode (extra end padding)', [1, 1, 1, 1], 1],
  ])('%s: the same values as pooling a padded copy', (_what, pads, ceil) => {
    const m = buildModel({
      nodes: [node('MaxPool', ['x'], ['y'], { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints(pads), ceil_mode: int(ceil) })],
      initializers: [],
      inputs: [valueInfo('x', [2, 3, 8, 7])],
      outputs: [valueInfo('y')],
      opset: 12,
    });
    // All negative, so a padding cell that won would show.
    const x = tf.sub(tf.randomUniform([2, 3, 8, 7], 0, 1, 'float32', 4), 2);
    const exec = new Executor(m, { registry: onnxOps });
    const y = exec.run({ x }).y;
    const [t, l, b, r] = [pads[0], pads[1], pads[2], pads[3]];
    const h = 8 + t + b;
    const w = 7 + l + r;
    const extra = (n: number) => (ceil ? Math.max(Math.ceil((n - 3) / 2) * 2 + 3 - n, 0) : 0);
    const padded = tf.pad(
      tf.transpose(x, [0, 2, 3, 1]),
      [
        [0, 0],
        [t, b + extra(h)],
        [l, r + extra(w)],
        [0, 0],
      ],
      -3.4e38,
    );
    const want = tf.transpose(tf.maxPool(padded as tf.Tensor4D, 3, 2, 'valid'), [0, 3, 1, 2]);
    expect(y.shape).toEqual(want.shape);
    expect(Array.from(y.dataSync())).toEqual(Array.from(want.dataSync()));
    exec.dispose();
  });
});
