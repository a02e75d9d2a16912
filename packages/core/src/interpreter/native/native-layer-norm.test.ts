import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeBuilt, nativeSkipReason } from '../../../test/support/native.js';
import { maxRelativeDifference } from '../../metrics/agreement.js';
import { initBackend } from '../backend.js';
import { layerNormalize } from '../ops/normalization.js';
import { disableNativeConv, enableNativeConv } from './enable.js';

beforeAll(async () => {
  await initBackend('wasm');
});

/** LayerNorm's value and the gradients for x, γ and β of Σ up·y, while training (the tape on). */
function valueAndGrads(shape: number[], paramShape: number[], eps: number) {
  return tf.tidy(() => {
    const x = tf.add(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', 1), 3), 0.5);
    const gamma = tf.randomNormal(paramShape, 1, 0.3, 'float32', 2);
    const beta = tf.randomNormal(paramShape, 0, 0.3, 'float32', 3);
    const up = tf.randomNormal(shape, 0, 1, 'float32', 4);
    let y: tf.Tensor | undefined;
    const grads = tf.grads((xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => {
      const out = layerNormalize(xi, gi, bi, shape.length - 1, eps);
      y = tf.keep(tf.clone(out));
      return tf.sum(tf.mul(out, up));
    })([x, gamma, beta]);
    const values = Array.from(y!.dataSync());
    y!.dispose();
    return { y: values, grads: grads.map((g) => ({ shape: g.shape, v: Array.from(g.dataSync()) })) };
  });
}

describe('native LayerNorm (training)', () => {
  const cases: [number[], number[], number][] = [
    [[3, 17, 48], [48], 1e-5],
    [[6, 10], [1, 10], 1e-3],
  ];
  for (const [shape, paramShape, eps] of cases) {
    it.skipIf(!nativeBuilt)(
      `x ${JSON.stringify(shape)}, γ and β ${JSON.stringify(paramShape)}: value and gradients equal the composed ops' within float rounding${nativeSkipReason}`,
      async () => {
        const kernels = (await tf.profile(() => void valueAndGrads(shape, paramShape, eps))).kernelNames;
        expect(kernels).toEqual(expect.arrayContaining(['PgLayerNorm', 'PgLayerNormBackward']));
        const native = valueAndGrads(shape, paramShape, eps);
        disableNativeConv();
        let composed: ReturnType<typeof valueAndGrads>;
        try {
          composed = valueAndGrads(shape, paramShape, eps);
        } finally {
          enableNativeConv();
        }
        expect(maxRelativeDifference(native.y, composed.y)).toBeLessThan(1e-5);
        native.grads.forEach((g, i) => {
          expect(g.shape).toEqual(composed.grads[i].shape);
          expect(maxRelativeDifference(g.v, composed.grads[i].v), ['x', 'gamma', 'beta'][i]).toBeLessThan(1e-5);
          expect(g.v.some((v) => Math.abs(v) > 1e-3)).toBe(true);
        });
      },
    );
  }

  it.skipIf(!nativeBuilt)(`leaves inference to the composed ops, and no tensors behind${nativeSkipReason}`, async () => {
    const x = tf.randomNormal([4, 5, 8]);
    const kernels = (await tf.profile(() => void tf.tidy(() => layerNormalize(x, tf.ones([8]), tf.zeros([8]), 2, 1e-5)))).kernelNames;
    expect(kernels).not.toContain('PgLayerNorm');
    valueAndGrads([3, 17, 48], [48], 1e-5);
    const before = tf.memory().numTensors;
    valueAndGrads([3, 17, 48], [48], 1e-5);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
