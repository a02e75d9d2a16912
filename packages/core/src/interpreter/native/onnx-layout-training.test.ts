import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { fusedPgConv } from '../../gating/fused-conv.js';
import { initBackend } from '../backend.js';
import { expectBitIdentical, nativeBuilt, nativeSkipReason, uniform } from '../../../test/support/native.js';
import { conv2dTrainable, onnxLayoutTrainable, type Conv2dGeometry } from '../ops/conv2d-trainable.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const toHwio = (w: tf.Tensor) => tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D;

// Training on the ONNX-layout weight (no per-step transpose) must give the same bits as the transposed path.
describe.skipIf(!nativeBuilt)(`training convolutions on ONNX-layout weights${nativeSkipReason}`, () => {
  const geometries: [string, Conv2dGeometry][] = [
    ['3x3, pad 1', { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1] }],
    ['stride 2, asymmetric pads', { strides: [2, 2], pads: [0, 1, 1, 0], dilations: [1, 1] }],
  ];
  // Made inside the tests: the backend is ready only then.
  const inputs = () => ({
    x: tf.tensor4d(uniform(2 * 9 * 9 * 6, 1, 1), [2, 9, 9, 6]),
    w: tf.tensor4d(uniform(5 * 6 * 3 * 3, 0.5, 2), [5, 6, 3, 3]),
    bias: tf.tensor1d(uniform(5, 0.2, 3)),
  });

  it.each(geometries)('conv2dTrainable: the same output and gradients (x, W, b): %s', (_, g) => {
    const { x, w, bias } = inputs();
    expect(onnxLayoutTrainable(x, w.shape, g, bias)).toBe(true);
    const y0 = conv2dTrainable(x, toHwio(w), g, bias);
    const dy = tf.tensor4d(uniform(y0.size, 1, 4), y0.shape);
    const grads = (layout: 'hwio' | 'oihw') =>
      tf.grads((xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => {
        const y = layout === 'oihw' ? conv2dTrainable(xi as tf.Tensor4D, wi as tf.Tensor4D, g, bi, true, undefined, 'oihw') : conv2dTrainable(xi as tf.Tensor4D, toHwio(wi), g, bi);
        return tf.sum(tf.mul(y, dy));
      })([x, w, bias]);
    expectBitIdentical(conv2dTrainable(x, w, g, bias, true, undefined, 'oihw'), y0);
    const [a, b] = [grads('oihw'), grads('hwio')];
    a.forEach((t, i) => expectBitIdentical(t, b[i]));
  });

  it.each(geometries)('fusedPgConv: the same output, gate and gradients (x, W, b, Δ, s): %s', (_, g) => {
    const { x, w, bias } = inputs();
    const delta = tf.tensor1d(uniform(5, 0.1, 5));
    const s = tf.scalar(0.9);
    const opts = { bits: 4, hbits: 2, alpha: 5, sparseBackprop: false, filterGrad: true, scaleGrad: true, wantGate: true, geometry: g };
    const run = (layout: 'hwio' | 'oihw') => {
      let out: tf.Tensor[] = [];
      const gr = tf.grads((xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor, di: tf.Tensor, si: tf.Tensor) => {
        const r = fusedPgConv(xi as tf.Tensor4D, layout === 'oihw' ? (wi as tf.Tensor4D) : toHwio(wi), bi, di, si, { ...opts, weightLayout: layout });
        out = [tf.keep(r.y), tf.keep(r.gate!)];
        // The gate's own gradient path (the sparsity budget) is part of the comparison.
        return tf.add(tf.sum(tf.mul(r.y, r.y)), tf.sum(r.gate!));
      })([x, w, bias, delta, s]);
      return [...out, ...gr];
    };
    const [a, b] = [run('oihw'), run('hwio')];
    a.forEach((t, i) => expectBitIdentical(t, b[i]));
  });
});
