import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../interpreter/backend.js';
import { gate } from './gate.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

describe('gate', () => {
  let o: tf.Tensor;
  let d: tf.Tensor;
  beforeAll(() => {
    o = tf.tensor2d([
      [-0.4, 0.2, 0.05],
      [0.3, -0.1, 0.6],
    ]);
    d = tf.tensor1d([0.1, 0.0, 0.5]);
  });

  it('is the hard step 1[O_hb > Δ] per output channel', () => {
    expect(Array.from(gate(o, d, { alpha: 5, sparseBackprop: false }).dataSync())).toEqual([0, 1, 0, 1, 0, 1]);
  });

  it('back-propagates the sigmoid surrogate, matching finite differences of the smooth gate', () => {
    const up = tf.tensor2d([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const loss = (oi: tf.Tensor, di: tf.Tensor) => tf.sum(tf.mul(gate(oi, di, { alpha: 5, sparseBackprop: false }), up));
    const [gO, gD] = tf.grads(loss)([o, d]);
    const smooth = (ov: number[], dv: number[]) => ov.reduce((acc, v, i) => acc + (i + 1) * sigmoid(5 * (v - dv[i % 3])), 0);
    const ov = Array.from(o.dataSync());
    const dv = Array.from(d.dataSync());
    const h = 1e-3;
    ov.forEach((_, i) => {
      const p = ov.slice();
      const m = ov.slice();
      p[i] += h;
      m[i] -= h;
      expect(gO.dataSync()[i]).toBeCloseTo((smooth(p, dv) - smooth(m, dv)) / (2 * h), 3);
    });
    dv.forEach((_, c) => {
      const p = dv.slice();
      const m = dv.slice();
      p[c] += h;
      m[c] -= h;
      expect(gD.dataSync()[c]).toBeCloseTo((smooth(ov, p) - smooth(ov, m)) / (2 * h), 3);
    });
  });

  it('with sparse back-prop passes no gradient where the gate is off', () => {
    const g = tf.grad((oi: tf.Tensor) => tf.sum(gate(oi, d, { alpha: 5, sparseBackprop: true })))(o);
    const v = Array.from(g.dataSync());
    expect([v[0], v[2], v[4]]).toEqual([0, 0, 0]);
    expect(v[1]).toBeGreaterThan(0);
  });
});
