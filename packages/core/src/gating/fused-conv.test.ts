import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../interpreter/backend.js';
import { conv2dTrainable, type Conv2dGeometry } from '../interpreter/ops/conv2d-trainable.js';
import { fusedPgConv } from './fused-conv.js';
import { gate } from './gate.js';
import { quantSplit } from './quantizer.js';

beforeAll(async () => {
  await initBackend('wasm');
});
afterAll(async () => {
  await tf.setBackend('wasm');
});

interface Case {
  name: string;
  geometry: Conv2dGeometry;
  dynamic: boolean;
  sparseBackprop: boolean;
  /** With a gate offset (the residual gate, PGResidualConv): its NHWC shape, the output's. */
  offset?: [number, number, number, number];
}

const cases: Case[] = [
  { name: '3x3 pad 1, static scale', geometry: { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1] }, dynamic: false, sparseBackprop: false },
  { name: '3x3 stride 2, static scale, sparse back-prop', geometry: { strides: [2, 2], pads: [1, 1, 1, 1], dilations: [1, 1] }, dynamic: false, sparseBackprop: true },
  { name: '3x3 dilation 2, dynamic scale', geometry: { strides: [1, 1], pads: [2, 2, 2, 2], dilations: [2, 2] }, dynamic: true, sparseBackprop: false },
  {
    name: 'gate offset, 3x3 pad 1, static scale',
    geometry: { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1] },
    dynamic: false,
    sparseBackprop: false,
    offset: [3, 7, 7, 5],
  },
  {
    name: 'gate offset, 3x3 stride 2, static scale, sparse back-prop',
    geometry: { strides: [2, 2], pads: [1, 1, 1, 1], dilations: [1, 1] },
    dynamic: false,
    sparseBackprop: true,
    offset: [3, 4, 4, 5],
  },
  {
    name: 'gate offset, 3x3 stride 2 no padding, dynamic scale',
    geometry: { strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1] },
    dynamic: true,
    sparseBackprop: false,
    offset: [3, 3, 3, 5],
  },
];

const bits = 4;
const hbits = 2;
const alpha = 5;

/** Inputs as plain arrays, so each backend builds its own tensors. */
function inputs() {
  return tf.tidy(() => ({
    x: tf.randomNormal([3, 7, 7, 4], 0, 1, 'float32', 1).arraySync() as number[][][][],
    w: tf.randomNormal([3, 3, 4, 5], 0, 0.3, 'float32', 2).arraySync() as number[][][][],
    b: tf.randomNormal([5], 0, 0.1, 'float32', 3).arraySync() as number[],
    d: tf.randomNormal([5], 0, 0.2, 'float32', 4).arraySync() as number[],
    up: tf.randomNormal([3, 7, 7, 5], 0, 1, 'float32', 5).arraySync() as number[][][][],
    off: tf.randomNormal([3, 7, 7, 5], 0, 0.8, 'float32', 6).arraySync() as number[][][][],
  }));
}

/**
 * How the layer is built: from the composed ops (quantSplit, two convs, gate on O_hb or, with an offset, on
 * O_hb + offset as the kernel's composed path) and autodiff; the fused op with the gate M as an output and
 * mean(M) taken by tfjs; or the fused op's own fraction ΣM/size (what training's sparsity budget reads).
 */
type Path = 'composed' | 'fused gate' | 'fused fraction';

/** Loss L = Σ up ⊙ O + 3 · mean(M)² (the second term reaches M, as the sparsity budget does) through `path`. */
function lossAndGrads(c: Case, path: Path, v: ReturnType<typeof inputs>) {
  const x = tf.tensor4d(v.x);
  const w = tf.tensor4d(v.w);
  const b = tf.tensor1d(v.b);
  const d = tf.tensor1d(v.d);
  const s = tf.scalar(c.dynamic ? 1e-12 : 1.7);
  const o = c.offset ? tf.tensor4d(v.off).slice([0, 0, 0, 0], c.offset) : undefined;
  const g = c.geometry;
  const f = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor, di: tf.Tensor, si: tf.Tensor, oi?: tf.Tensor) => {
    // dynamic: the per-sample scale, no gradient (as effectiveScale)
    const scale = c.dynamic ? tf.add(tf.max(tf.abs(xi), [1, 2, 3], true), tf.mul(si, 0)) : si;
    const sc = c.dynamic ? tf.customGrad((t) => ({ value: tf.clone(t as tf.Tensor), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) }))(scale) : scale;
    let y: tf.Tensor;
    let m: tf.Tensor;
    let mean: tf.Tensor;
    if (path !== 'composed') {
      // the weight as an intermediate of the forward (as the kernel transposes it): freed before the backward
      const r = fusedPgConv(
        xi as tf.Tensor4D,
        tf.mul(wi, 1) as tf.Tensor4D,
        bi,
        di,
        sc,
        { bits, hbits, alpha, sparseBackprop: c.sparseBackprop, filterGrad: true, scaleGrad: !c.dynamic, geometry: g, wantGate: true, wantFraction: path === 'fused fraction' },
        oi as tf.Tensor4D | undefined,
      );
      y = r.y;
      m = r.gate!;
      mean = path === 'fused fraction' ? r.fraction : tf.mean(m);
    } else {
      const { hb, lb } = quantSplit(xi, sc, bits, hbits);
      const ohb = conv2dTrainable(hb as tf.Tensor4D, wi as tf.Tensor4D, g, bi);
      const olb = conv2dTrainable(lb as tf.Tensor4D, wi as tf.Tensor4D, g);
      m = gate(oi ? tf.add(ohb, oi) : ohb, di, { alpha, sparseBackprop: c.sparseBackprop });
      y = tf.add(ohb, tf.mul(m, olb));
      mean = tf.mean(m);
    }
    const up = tf.tensor4d(v.up).slice([0, 0, 0, 0], y.shape as [number, number, number, number]);
    return { y, m, mean, loss: tf.add(tf.sum(tf.mul(y, up)), tf.mul(3, tf.square(mean))) as tf.Scalar };
  };
  const { y, m, mean } = f(x, w, b, d, s, o);
  const grads = o
    ? tf.grads((xi, wi, bi, di, si, oi) => f(xi, wi, bi, di, si, oi).loss)([x, w, b, d, s, o])
    : tf.grads((xi, wi, bi, di, si) => f(xi, wi, bi, di, si).loss)([x, w, b, d, s]);
  return { y: Array.from(y.dataSync()), m: Array.from(m.dataSync()), mean: mean.dataSync()[0], grads: grads.map((t) => Array.from(t.dataSync())) };
}

function maxRel(a: number[], b: number[]): number {
  const scale = Math.max(1e-6, ...b.map(Math.abs));
  return Math.max(0, ...a.map((v, i) => Math.abs(v - b[i]))) / scale;
}

describe('fusedPgConv', () => {
  for (const c of cases) {
    it(`${c.name}: forward equals the composed ops; gradients equal autodiff of them (wasm) and the cpu backend's`, async () => {
      const v = inputs();
      const fused = lossAndGrads(c, 'fused gate', v);
      const composed = lossAndGrads(c, 'composed', v);
      await tf.setBackend('cpu');
      const cpu = lossAndGrads(c, 'composed', v);
      await tf.setBackend('wasm');
      // the forward is the same ops: bit-identical
      expect(fused.m).toEqual(composed.m);
      expect(fused.m.some((x) => x === 1) && fused.m.some((x) => x === 0)).toBe(true);
      expect(fused.y).toEqual(composed.y);
      const names = ['x', 'W', 'bias', 'threshold', 'scale', 'gate offset'];
      expect(fused.grads.length).toBe(c.offset ? 6 : 5);
      fused.grads.forEach((g, i) => {
        expect(g.length, names[i]).toBe(composed.grads[i].length);
        expect(maxRel(g, composed.grads[i]), `${names[i]} vs wasm autodiff`).toBeLessThan(1e-4);
        expect(maxRel(g, cpu.grads[i]), `${names[i]} vs cpu autodiff`).toBeLessThan(1e-4);
      });
      // gradients are not trivially zero
      for (const i of c.offset ? [0, 1, 2, 3, 5] : [0, 1, 2, 3])
        expect(
          fused.grads[i].some((x) => Math.abs(x) > 1e-4),
          names[i],
        ).toBe(true);
      if (!c.dynamic) expect(Math.abs(fused.grads[4][0])).toBeGreaterThan(1e-4);
    });
  }

  for (const c of [cases[0], cases[3]]) {
    it(`leaves no tensors behind after a gradient step (${c.name})`, () => {
      const v = inputs();
      for (const path of ['fused gate', 'fused fraction'] as const) {
        lossAndGrads(c, path, v); // warm-up allocations of the backend
        const before = tf.memory().numTensors;
        tf.tidy(() => {
          lossAndGrads(c, path, v);
        });
        expect(tf.memory().numTensors, path).toBe(before);
      }
    });
  }

  for (const c of cases) {
    it(`${c.name}: the fused op's own fraction gives mean(M) and the gradients tfjs's mean of its gate gives, bit for bit`, () => {
      const v = inputs();
      const viaGate = lossAndGrads(c, 'fused gate', v);
      const viaFraction = lossAndGrads(c, 'fused fraction', v);
      expect(viaFraction.y).toEqual(viaGate.y);
      expect(viaFraction.m).toEqual(viaGate.m);
      expect(Object.is(viaFraction.mean, viaGate.mean)).toBe(true);
      viaFraction.grads.forEach((g, i) => {
        // equal as numbers (=== also takes +0 for -0: a zero gradient's sign may differ, nothing else may)
        const differ = g.filter((x, j) => !(x === viaGate.grads[i][j]));
        expect(differ, `input ${i}`).toEqual([]);
      });
    });
  }
});
