import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeBuilt, nativeSkipReason } from '../../../test/support/native.js';
import { maxRelativeDifference } from '../../metrics/agreement.js';
import { initBackend } from '../backend.js';
import { disableNativeConv, enableNativeConv } from './enable.js';
import { nativeBatchMatMul } from './matmul-kernels.js';

// The batched products on oneDNN's sgemm (the attention's Q·Kᵀ and A·V) against tfjs's BatchMatMul and its
// autodiff: the same values and gradients within float rounding, with no transposed copies.

beforeAll(async () => {
  await initBackend('wasm');
});

function valueAndGrads(aShape: number[], bShape: number[], native: boolean) {
  return tf.tidy(() => {
    const a = tf.randomNormal(aShape, 0, 1, 'float32', 1);
    const b = tf.randomNormal(bShape, 0, 1, 'float32', 2);
    const mul = (x: tf.Tensor, y: tf.Tensor) => (native ? nativeBatchMatMul(x, y)! : tf.matMul(x, y));
    const y = mul(a, b);
    const up = tf.randomNormal(y.shape, 0, 1, 'float32', 3);
    const grads = tf.grads((x: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(mul(x, z), up)))([a, b]);
    return { shape: y.shape, y: Array.from(y.dataSync()), grads: grads.map((g) => ({ shape: g.shape, v: Array.from(g.dataSync()) })) };
  });
}

describe('nativeBatchMatMul', () => {
  for (const [aShape, bShape] of [
    [
      [96, 17, 16],
      [96, 16, 17],
    ],
    [
      [2, 3, 17, 17],
      [2, 3, 17, 16],
    ],
    [
      [4, 1, 9],
      [4, 9, 5],
    ],
  ]) {
    it.skipIf(!nativeBuilt)(`${JSON.stringify(aShape)} · ${JSON.stringify(bShape)}: tfjs's values and gradients, no transposes${nativeSkipReason}`, async () => {
      const native = valueAndGrads(aShape, bShape, true);
      const tfjs = valueAndGrads(aShape, bShape, false);
      expect(native.shape).toEqual(tfjs.shape);
      expect(maxRelativeDifference(native.y, tfjs.y)).toBeLessThan(1e-5);
      native.grads.forEach((g, i) => {
        expect(g.shape).toEqual(tfjs.grads[i].shape);
        expect(maxRelativeDifference(g.v, tfjs.grads[i].v), ['a', 'b'][i]).toBeLessThan(1e-5);
      });
      const kernels = (await tf.profile(() => void valueAndGrads(aShape, bShape, true))).kernelNames;
      expect(kernels).toContain('PgBatchMatMul');
      expect(kernels).not.toContain('Transpose');
      expect(kernels).not.toContain('BatchMatMul');
    });
  }

  it.skipIf(!nativeBuilt)(`leaves other shapes, and everything with the addon off, to the caller${nativeSkipReason}`, () => {
    tf.tidy(() => {
      expect(nativeBatchMatMul(tf.ones([2, 3, 4]), tf.ones([1, 4, 5]))).toBeUndefined();
      expect(nativeBatchMatMul(tf.ones([3, 4]), tf.ones([4, 5]))).toBeUndefined();
      expect(nativeBatchMatMul(tf.ones([2, 3, 4]), tf.ones([2, 3, 5]))).toBeUndefined();
      disableNativeConv();
      try {
        expect(nativeBatchMatMul(tf.ones([2, 3, 4]), tf.ones([2, 4, 5]))).toBeUndefined();
      } finally {
        enableNativeConv();
      }
    });
  });
});
