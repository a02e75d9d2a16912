import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeBuilt, nativeSkipReason } from '../../../test/support/native.js';
import { maxRelativeDifference } from '../../metrics/agreement.js';
import { initBackend } from '../backend.js';
import { tokenLinear } from '../ops/linear.js';
import { disableNativeConv, enableNativeConv } from './enable.js';

// A linear layer on tokens with its bias added by oneDNN's convolution (and the bias gradient from the weight
// gradient's pass) against the oneDNN product and a separate add.

beforeAll(async () => {
  await initBackend('wasm');
});

/** tokenLinear with its bias, or (`separate`) the product on oneDNN and an add after it: what it computed before. */
function valueAndGrads(shape: number[], f: number, separate = false) {
  const layer = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => (separate ? tf.add(tokenLinear(x, w), b) : tokenLinear(x, w, b));
  return tf.tidy(() => {
    const k = shape[shape.length - 1];
    const x = tf.randomNormal(shape, 0, 1, 'float32', 1);
    const w = tf.randomNormal([k, f], 0, 0.3, 'float32', 2);
    const b = tf.randomNormal([f], 0, 0.5, 'float32', 3);
    const up = tf.randomNormal([...shape.slice(0, -1), f], 0, 1, 'float32', 4);
    const y = layer(x, w, b);
    const grads = tf.grads((xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(layer(xi, wi, bi), up)))([x, w, b]);
    return { shape: y.shape, y: Array.from(y.dataSync()), grads: grads.map((g) => ({ shape: g.shape, v: Array.from(g.dataSync()) })) };
  });
}

describe('tokenLinear with a bias on oneDNN', () => {
  for (const [shape, f] of [
    [[3, 17, 48], 144],
    [[5, 24], 20],
    [[2, 3, 4, 16], 8],
  ] as [number[], number][]) {
    it.skipIf(!nativeBuilt)(`x ${JSON.stringify(shape)}, ${f} features: the same output and gradients as the product and an add${nativeSkipReason}`, async () => {
      const kernels = (await tf.profile(() => void valueAndGrads(shape, f))).kernelNames;
      expect(kernels).not.toContain('Add');
      const native = valueAndGrads(shape, f);
      const composed = valueAndGrads(shape, f, true);
      expect(native.shape).toEqual(composed.shape);
      // oneDNN adds the bias to the finished sum, as the separate add does: the same bits.
      expect(native.y).toEqual(composed.y);
      native.grads.forEach((g, i) => {
        expect(g.shape).toEqual(composed.grads[i].shape);
        expect(maxRelativeDifference(g.v, composed.grads[i].v), ['x', 'W', 'bias'][i]).toBeLessThan(1e-5);
        expect(g.v.some((v) => Math.abs(v) > 1e-3)).toBe(true);
      });
    });
  }

  it.skipIf(!nativeBuilt)(`adds the bias separately when the native kernels are off${nativeSkipReason}`, async () => {
    disableNativeConv();
    try {
      expect((await tf.profile(() => void valueAndGrads([3, 17, 48], 144))).kernelNames).toContain('Add');
    } finally {
      enableNativeConv();
    }
  });
});
