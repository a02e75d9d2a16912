import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { dynamicScale, fakeQuant, levels, quantSplit, quantizeWeights } from './quantizer.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const arr = (t: tf.Tensor) => Array.from(t.dataSync());

describe('quantSplit', () => {
  it('reproduces the 3/2-bit worked example of the method', () => {
    // s = 7 makes |x|/s * 7 = x, so x = 0..7 are exactly the codes q.
    const x = tf.tensor4d([0, 1, 2, 3, 4, 5, 6, 7], [1, 1, 1, 8]);
    const s = tf.scalar(7);
    const [hb, lb] = tf.split(quantSplit(x, s, 3, 2, false), 2, 0);
    expect(arr(hb)).toEqual([0, 0, 2, 2, 4, 4, 6, 6]);
    expect(arr(lb)).toEqual([0, 1, 0, 1, 0, 1, 0, 1]);
  });

  it('splits exactly: x_hb + x_lb = x_q, with codes in range, for signed inputs', () => {
    const x = tf.randomNormal([4, 3, 5, 6], 0, 2, 'float32', 7);
    for (const [bits, hbits] of [[4, 2], [6, 4], [8, 3], [3, 2]]) {
      const s = dynamicScale(x);
      const [hb, lb] = tf.split(quantSplit(x, s, bits, hbits, false), 2, 0);
      const xq = fakeQuant(x, s, bits, false);
      const diff = tf.max(tf.abs(tf.sub(tf.add(hb, lb), xq))).dataSync()[0];
      expect(diff).toBeLessThan(1e-6 * tf.max(s).dataSync()[0]);
      const n = levels(bits);
      const q = arr(tf.round(tf.div(tf.mul(tf.abs(xq), n), s)));
      expect(Math.max(...q)).toBeLessThanOrEqual(n);
      expect(Math.min(...q)).toBeGreaterThanOrEqual(0);
      // the high part is a truncation: its code is a multiple of 2^(bits-hbits)
      const qhb = arr(tf.round(tf.div(tf.mul(tf.abs(hb), n), s)));
      expect(qhb.every((v) => v % 2 ** (bits - hbits) === 0)).toBe(true);
      // and the low part stays below one high step
      const qlb = arr(tf.round(tf.div(tf.mul(tf.abs(lb), n), s)));
      expect(Math.max(...qlb)).toBeLessThan(2 ** (bits - hbits));
    }
  });

  it('passes the gradient straight through the high half only, and not outside the clip range', () => {
    const x = tf.tensor4d([0.1, 0.5, 0.9, 1.5, -0.3, -2], [1, 1, 1, 6]);
    const s = tf.scalar(1);
    const g = tf.grad((xi: tf.Tensor) => {
      const [hb, lb] = tf.split(quantSplit(xi, s, 4, 2, false), 2, 0);
      return tf.add(tf.sum(tf.mul(hb, 3)), tf.sum(tf.mul(lb, 100)));
    })(x);
    expect(arr(g)).toEqual([3, 3, 3, 0, 3, 0]);
  });

  it('gives a learnable scale the LSQ gradient (checked against finite differences away from rounding edges)', () => {
    const x = tf.tensor4d([0.11, 0.37, 0.52, 0.93, 1.4, -0.61], [1, 1, 1, 6]);
    const f = (s: tf.Tensor) => tf.sum(tf.mul(fakeQuant(x, s, 4, true), tf.tensor4d([1, 2, 3, 4, 5, 6], [1, 1, 1, 6])));
    const s0 = 1.03;
    const analytic = tf.grad(f)(tf.scalar(s0)).dataSync()[0];
    // d/ds of s * round(x/s * n)/n at fixed codes: q/n (the round is piecewise constant), sign outside.
    const n = 15;
    const xs = [0.11, 0.37, 0.52, 0.93, 1.4, -0.61];
    const w = [1, 2, 3, 4, 5, 6];
    let expected = 0;
    xs.forEach((v, i) => {
      const inside = Math.abs(v) < s0;
      const q = Math.round(Math.min(Math.abs(v) / s0, 1) * n);
      expected += w[i] * (inside ? Math.sign(v) * (q / n - Math.abs(v) / s0) : Math.sign(v));
    });
    expect(analytic).toBeCloseTo(expected, 4);
  });
});

describe('quantizeWeights', () => {
  it('uses 2^wbits - 1 magnitude levels per tensor and keeps the max exactly', () => {
    const w = tf.tensor1d([-1, -0.5, 0, 0.25, 0.3, 1]);
    const q = arr(quantizeWeights(w, 2));
    expect(q).toEqual([-1, -2 / 3, 0, 1 / 3, 1 / 3, 1].map((v) => Math.fround(v)));
  });

  it('has an identity (straight-through) gradient', () => {
    const w = tf.tensor1d([0.3, -0.2, 0.9]);
    expect(arr(tf.grad((wi: tf.Tensor) => tf.sum(tf.mul(quantizeWeights(wi, 8), tf.tensor1d([1, 2, 3]))))(w))).toEqual([1, 2, 3]);
  });
});
