import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../interpreter/backend.js';
import { dynamicScale, fakeQuant, levels, quantSplit, quantizeWeights } from './quantizer.js';

beforeAll(async () => {
  await initBackend('wasm');
});

// `+ 0` folds -0 into +0: they are the same number, and the gated model format does not tell them apart.
const arr = (t: tf.Tensor) => Array.from(t.dataSync(), (v) => v + 0);

describe('quantSplit', () => {
  it('reproduces the 3/2-bit worked example of the method', () => {
    // s = 7 makes x/s * 7 = x, so x = 0..7 are exactly the codes q.
    const x = tf.tensor4d([0, 1, 2, 3, 4, 5, 6, 7], [1, 1, 1, 8]);
    const { hb, lb } = quantSplit(x, tf.scalar(7), 3, 2);
    expect(arr(hb)).toEqual([0, 0, 2, 2, 4, 4, 6, 6]);
    expect(arr(lb)).toEqual([0, 1, 0, 1, 0, 1, 0, 1]);
  });

  it('splits exactly (x_hb + x_lb = x_q), keeps codes in range, truncates toward zero for negatives', () => {
    const x = tf.randomNormal([4, 3, 5, 6], 0, 2, 'float32', 7);
    for (const [bits, hbits] of [
      [4, 2],
      [6, 4],
      [8, 3],
      [3, 2],
    ]) {
      const s = dynamicScale(x);
      const { hb, lb } = quantSplit(x, s, bits, hbits);
      const xq = fakeQuant(x, s, bits);
      // exact in the codes; in float32 the sum may differ from x_q by one rounding
      arr(tf.sub(tf.add(hb, lb), xq)).forEach((d) => expect(Math.abs(d)).toBeLessThan(1e-6));
      const n = levels(bits);
      const q = arr(tf.round(tf.div(tf.mul(xq, n), s)));
      expect(Math.max(...q.map(Math.abs))).toBeLessThanOrEqual(n);
      const qhb = arr(tf.round(tf.div(tf.mul(hb, n), s)));
      const step = 2 ** (bits - hbits);
      q.forEach((v, i) => expect(qhb[i]).toBe(Math.sign(v) * Math.floor(Math.abs(v) / step) * step + 0));
    }
  });

  it('is, value for value, what the ONNX function computes with |x| and sign (the gated model format)', () => {
    const x = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 3);
    const s = tf.scalar(1.7);
    const n = levels(4);
    const q = tf.round(tf.mul(tf.clipByValue(tf.div(tf.abs(x), s), 0, 1), n));
    const unit = tf.div(s, n);
    const qhb = tf.mul(tf.floor(tf.div(q, 4)), 4);
    const xq = tf.mul(tf.mul(tf.sign(x), q), unit);
    const xhb = tf.mul(tf.mul(tf.sign(x), qhb), unit);
    const { hb, lb } = quantSplit(x, s, 4, 2);
    expect(arr(hb)).toEqual(arr(xhb));
    expect(arr(lb)).toEqual(arr(tf.sub(xq, xhb)));
  });

  it('passes the gradient straight through the high half only, and not outside the clip range', () => {
    const x = tf.tensor4d([0.1, 0.5, 0.9, 1.5, -0.3, -2], [1, 1, 1, 6]);
    const s = tf.scalar(1);
    const g = tf.grad((xi: tf.Tensor) => {
      const { hb, lb } = quantSplit(xi, s, 4, 2);
      return tf.add(tf.sum(tf.mul(hb, 3)), tf.sum(tf.mul(lb, 100)));
    })(x);
    const expected = [3, 3, 3, 0, 3, 0];
    arr(g).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));
  });

  it('gives a learnable scale the LSQ gradient: q/n - x/s inside the range, sign(x) outside', () => {
    const xs = [0.11, 0.37, 0.52, 0.93, 1.4, -0.61, -1.2];
    const w = [1, 2, 3, 4, 5, 6, 7];
    const s0 = 1.03;
    const n = 15;
    const x = tf.tensor1d(xs);
    const analytic = tf
      .grad((s: tf.Tensor) => tf.sum(tf.mul(fakeQuant(x, s, 4), tf.tensor1d(w))))(tf.scalar(s0))
      .dataSync()[0];
    let expected = 0;
    xs.forEach((v, i) => {
      const inside = Math.abs(v) < s0;
      const q = Math.round(Math.min(Math.abs(v) / s0, 1) * n);
      expected += w[i] * (inside ? Math.sign(v) * (q / n - Math.abs(v) / s0) : Math.sign(v));
    });
    expect(analytic).toBeCloseTo(expected, 4);
  });

  it('sends no gradient into a dynamic scale (the method: no gradient through s)', async () => {
    const { effectiveScale } = await import('./quantizer.js');
    const x = tf.tensor2d([[0.2, -0.9, 0.4]]);
    const weights = tf.tensor2d([[1, 2, 3]]);
    const dynamic = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(fakeQuant(xi, effectiveScale(xi, tf.scalar(1e-12), true), 4), weights)))(x);
    const fixed = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(fakeQuant(xi, tf.tensor2d([[0.9]]), 4), weights)))(x);
    expect(arr(dynamic)).toEqual(arr(fixed));
  });
});

describe('quantizeWeights', () => {
  it('uses 2^wbits - 1 magnitude levels per tensor and keeps the max exactly', () => {
    const q = arr(quantizeWeights(tf.tensor1d([-1, -0.5, 0, 0.25, 0.3, 1]), 2));
    expect(q).toEqual([-1, -2 / 3, 0, 1 / 3, 1 / 3, 1].map((v) => Math.fround(v)));
  });

  it('has an identity (straight-through) gradient', () => {
    const w = tf.tensor1d([0.3, -0.2, 0.9]);
    expect(arr(tf.grad((wi: tf.Tensor) => tf.sum(tf.mul(quantizeWeights(wi, 8), tf.tensor1d([1, 2, 3]))))(w))).toEqual([1, 2, 3]);
  });
});
