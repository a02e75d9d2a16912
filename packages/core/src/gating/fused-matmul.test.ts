import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeBuilt, nativeSkipReason } from '../../test/support/native.js';
import { maxRelativeDifference } from '../metrics/agreement.js';
import { initBackend } from '../interpreter/backend.js';
import { disableNativeConv, enableNativeConv } from '../interpreter/native/index.js';
import { tokenLinear } from '../interpreter/ops/linear.js';
import { fusedPgMatMul } from './fused-matmul.js';
import { gate } from './gate.js';
import { dynamicScale, quantSplit } from './quantizer.js';

// The gated MatMul's fused training op against the composed path it replaces (the kernel's: quantSplit, two
// token products, the gate, autodiff through them): the same forward and the same gradients.

beforeAll(async () => {
  await initBackend('wasm');
});

const K = 24;
const F = 20;
const bits = 4;
const hbits = 2;
const alpha = 5;

interface Case {
  name: string;
  shape: number[];
  dynamic: boolean;
  sparseBackprop: boolean;
  offset: boolean;
}

const cases: Case[] = [
  { name: 'tokens [3, 7, K], static scale', shape: [3, 7, K], dynamic: false, sparseBackprop: false, offset: false },
  { name: 'rows [5, K], static scale, sparse back-prop', shape: [5, K], dynamic: false, sparseBackprop: true, offset: false },
  { name: 'tokens [2, 3, 4, K], dynamic scale', shape: [2, 3, 4, K], dynamic: true, sparseBackprop: false, offset: false },
  { name: 'tokens [3, 7, K], gate offset, static scale', shape: [3, 7, K], dynamic: false, sparseBackprop: false, offset: true },
];

/**
 * Loss L = Σ up ⊙ O + 3 · mean(M)² (the second term reaches M, as the sparsity budget does), its value, M
 * and the gradients for x, W, b, Δ, s (and the offset), through the fused op or the composed ops.
 */
function lossAndGrads(c: Case, fused: boolean) {
  return tf.tidy(() => {
    const outShape = [...c.shape.slice(0, -1), F];
    const x = tf.randomNormal(c.shape, 0, 1, 'float32', 1);
    const w = tf.randomNormal([K, F], 0, 0.3, 'float32', 2);
    const b = tf.randomNormal([F], 0, 0.1, 'float32', 3);
    const d = tf.randomNormal([F], 0, 0.4, 'float32', 4);
    const s = tf.scalar(c.dynamic ? 1e-12 : 1.7);
    const up = tf.randomNormal(outShape, 0, 1, 'float32', 5);
    const o = tf.randomNormal(outShape, 0, 0.8, 'float32', 6);
    const f = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor, di: tf.Tensor, si: tf.Tensor, oi?: tf.Tensor) => {
      // dynamic: the per-sample scale max|x| (the static one below it), no gradient, as effectiveScale
      const scale = c.dynamic ? tf.add(dynamicScale(xi), tf.mul(si, 0)) : si;
      const sc = c.dynamic ? tf.customGrad((t) => ({ value: tf.clone(t as tf.Tensor), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) }))(scale) : scale;
      let y: tf.Tensor;
      let m: tf.Tensor;
      if (fused) {
        // the weight as an intermediate of the forward (as the kernel's quantized weight): freed before the backward
        const r = fusedPgMatMul(
          xi,
          tf.mul(wi, 1) as tf.Tensor2D,
          bi,
          di,
          sc,
          { bits, hbits, alpha, sparseBackprop: c.sparseBackprop, filterGrad: true, scaleGrad: !c.dynamic, wantGate: true },
          oi,
        );
        if (!r?.gate) throw new Error('fusedPgMatMul did not take the layer');
        y = r.y;
        m = r.gate;
      } else {
        const { hb, lb } = quantSplit(xi, sc, bits, hbits);
        const ohb = tokenLinear(hb, wi, bi);
        const olb = tokenLinear(lb, wi);
        m = gate(oi ? tf.add(ohb, oi) : ohb, di, { alpha, sparseBackprop: c.sparseBackprop });
        y = tf.add(ohb, tf.mul(m, olb));
      }
      return { y, m, loss: tf.add(tf.sum(tf.mul(y, up)), tf.mul(3, tf.square(tf.mean(m)))) as tf.Scalar };
    };
    const { y, m } = f(x, w, b, d, s, c.offset ? o : undefined);
    const grads = c.offset
      ? tf.grads((xi, wi, bi, di, si, oi) => f(xi, wi, bi, di, si, oi).loss)([x, w, b, d, s, o])
      : tf.grads((xi, wi, bi, di, si) => f(xi, wi, bi, di, si).loss)([x, w, b, d, s]);
    return { shape: y.shape, y: Array.from(y.dataSync()), m: Array.from(m.dataSync()), grads: grads.map((t) => ({ shape: t.shape, v: Array.from(t.dataSync()) })) };
  });
}

describe('fusedPgMatMul', () => {
  for (const c of cases) {
    it.skipIf(!nativeBuilt)(`${c.name}: forward and gradients equal the composed ops'${nativeSkipReason}`, () => {
      const fused = lossAndGrads(c, true);
      const composed = lossAndGrads(c, false);
      expect(fused.shape).toEqual(composed.shape);
      // The same float32 operations on oneDNN (the bias added by the convolution, not after it): the same bits.
      expect(fused.y).toEqual(composed.y);
      expect(fused.m).toEqual(composed.m);
      expect(fused.m.some((v) => v === 1) && fused.m.some((v) => v === 0)).toBe(true);
      const names = ['x', 'W', 'bias', 'threshold', 'scale', 'gate offset'];
      expect(fused.grads.length).toBe(c.offset ? 6 : 5);
      fused.grads.forEach((g, i) => {
        expect(g.shape, names[i]).toEqual(composed.grads[i].shape);
        // A dynamic scale gets no gradient on either path: zeros, not a relative difference.
        if (composed.grads[i].v.every((v) => v === 0))
          expect(
            g.v.every((v) => v === 0),
            names[i],
          ).toBe(true);
        else expect(maxRelativeDifference(g.v, composed.grads[i].v), names[i]).toBeLessThan(1e-4);
      });
      for (const i of c.offset ? [0, 1, 2, 3, 5] : [0, 1, 2, 3])
        expect(
          fused.grads[i].v.some((v) => Math.abs(v) > 1e-4),
          names[i],
        ).toBe(true);
      if (!c.dynamic) expect(Math.abs(fused.grads[4].v[0])).toBeGreaterThan(1e-4);
    });
  }

  it.skipIf(!nativeBuilt)(`leaves the layer to the composed path when the native kernels are off${nativeSkipReason}`, () => {
    disableNativeConv();
    try {
      const taken = tf.tidy(
        () =>
          fusedPgMatMul(tf.ones([2, 3, K]), tf.ones([K, F]), undefined, tf.zeros([F]), tf.scalar(1), {
            bits,
            hbits,
            alpha,
            sparseBackprop: false,
            filterGrad: true,
            scaleGrad: true,
          })?.y,
      );
      expect(taken).toBeUndefined();
    } finally {
      enableNativeConv();
    }
  });

  it.skipIf(!nativeBuilt)(`leaves no tensors behind after a gradient step${nativeSkipReason}`, () => {
    lossAndGrads(cases[3], true); // warm-up allocations of the backend
    const before = tf.memory().numTensors;
    lossAndGrads(cases[3], true);
    expect(tf.memory().numTensors).toBe(before);
  });
});
