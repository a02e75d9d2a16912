import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeBuilt, nativeSkipReason } from '../../../test/support/native.js';
import { initBackend } from '../backend.js';
import { composedGeluErf, geluErf } from '../ops/elementwise.js';
import { disableNativeConv, enableNativeConv } from './enable.js';
import { nativeGelu } from './gelu-kernels.js';

beforeAll(async () => {
  await initBackend('wasm');
});

/** GELU's value and its gradient for the upstream gradient `up`, through `gelu`. */
function valueAndGrad(gelu: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, up: tf.Tensor) {
  return tf.tidy(() => {
    const { value, grads } = tf.valueAndGrads((xi: tf.Tensor) => tf.sum(tf.mul(gelu(xi), up)))([x]);
    value.dispose();
    return { y: Array.from(gelu(x).dataSync()), dx: Array.from(grads[0].dataSync()) };
  });
}

function maxAbsDiff(a: number[], b: number[]): number {
  return Math.max(...a.map((v, i) => Math.abs(v - b[i])));
}

describe('native GELU (training)', () => {
  // A grid over the range GELU's inputs take (both tails included) and activations of a layer's scale.
  const grid = Array.from({ length: 4001 }, (_, i) => -10 + i * 0.005);
  const shape = [3, 17, 40];

  it.skipIf(!nativeBuilt)(`equals the composed ops within float rounding, value and gradient${nativeSkipReason}`, () => {
    for (const x of [tf.tensor1d(grid), tf.randomNormal(shape, 0, 2, 'float32', 7)]) {
      const up = tf.randomNormal(x.shape, 0, 1, 'float32', 8);
      const native = valueAndGrad((t) => nativeGelu(t)!, x, up);
      const composed = valueAndGrad(composedGeluErf, x, up);
      // erf's approximation (the formula of tfjs's Erf, |error| < 1.5e-7) in another order of float ops:
      // a few 1e-7 of values of order 1 to 10.
      expect(maxAbsDiff(native.y, composed.y)).toBeLessThan(2e-6);
      expect(maxAbsDiff(native.dx, composed.dx)).toBeLessThan(2e-6);
      // and GELU, not something near it: x·Φ(x) at a few known points
      const [y1] = valueAndGrad((t) => nativeGelu(t)!, tf.tensor1d([1, -1, 3]), tf.ones([3])).y;
      expect(Math.abs(y1 - 0.841344746)).toBeLessThan(1e-6);
      x.dispose();
      up.dispose();
    }
    // d/dx GELU at 0 is 0.5, at 1 it is Φ(1) + φ(1)
    const { dx } = valueAndGrad((t) => nativeGelu(t)!, tf.tensor1d([0, 1]), tf.ones([2]));
    expect(Math.abs(dx[0] - 0.5)).toBeLessThan(1e-6);
    expect(Math.abs(dx[1] - (0.841344746 + 0.241970725))).toBeLessThan(1e-6);
  });

  it.skipIf(!nativeBuilt)(`runs while a gradient is recorded, the composed ops in inference and with the addon off${nativeSkipReason}`, async () => {
    const x = tf.randomNormal(shape, 0, 2, 'float32', 9);
    const up = tf.randomNormal(shape, 0, 1, 'float32', 10);
    const kernelsOf = async (f: () => void) => (await tf.profile(() => tf.tidy(f))).kernelNames;
    expect(await kernelsOf(() => void tf.grads((xi: tf.Tensor) => tf.sum(tf.mul(geluErf(xi), up)))([x]))).toContain('PgGelu');
    const inference = await kernelsOf(() => void geluErf(x));
    expect(inference).toContain('Erf');
    expect(inference).not.toContain('PgGelu');
    disableNativeConv();
    try {
      expect(nativeGelu(x)).toBeUndefined();
    } finally {
      enableNativeConv();
    }
    const before = tf.memory().numTensors;
    valueAndGrad(geluErf, x, up);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    up.dispose();
  });
});
