import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { composedGateBackward, composedGateForward, composedQuantBackward, composedQuantSplit } from '../fused-conv.js';
import { composedFakeQuant, composedQuantizeWeights, quantSplit } from '../quantizer.js';
import { initBackend } from '../../interpreter/backend.js';
import { expectBitIdentical, nativeBuilt, nativeSkipReason, uniform } from '../../../test/support/native.js';
import { nativeFakeQuant, nativeGateBackward, nativeGateForward, nativeQuantBackward, nativeQuantSplit, nativeQuantizeWeights, type GateGradient } from './ops.js';

beforeAll(async () => {
  await initBackend('wasm');
});

/** Inputs at the quantizer's edges: rounding halves k + 1/2 of the code grid, the clip bounds ±s, beyond, ±0. */
function edgyInput(shape: number[], scales: number[], bits: number, seed: number): Float32Array {
  const n = 2 ** bits - 1;
  const x = uniform(
    shape.reduce((a, b) => a * b, 1),
    1.3 * Math.max(...scales),
    seed,
  );
  const block = x.length / scales.length;
  for (let i = 0; i < x.length; i++) {
    const s = scales[Math.floor(i / block)];
    const k = Math.floor((Math.abs(x[i]) / s) * n);
    const sign = i % 2 === 0 ? 1 : -1;
    switch (i % 7) {
      case 0:
        x[i] = (sign * ((k + 0.5) * s)) / n;
        break; // a rounding half (up to float rounding of the product)
      case 1:
        x[i] = sign * s;
        break; // the clip bound
      case 2:
        x[i] = sign * Math.fround(s * (1 + 2 ** -23));
        break; // just outside it
      case 3:
        x[i] = i % 14 === 3 ? -0 : 0;
        break;
      default:
        break;
    }
  }
  return x;
}

/** |a - b| <= tol·max(1, max|b|) elementwise. */
function expectClose(a: tf.Tensor, b: tf.Tensor, tol: number): void {
  expect(a.shape).toEqual(b.shape);
  const [x, y] = [a.dataSync(), b.dataSync()];
  let scale = 1;
  for (const v of y) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
  expect(worst).toBeLessThanOrEqual(tol * scale);
}

const shape = [3, 5, 6, 8];
const cases = [
  { bits: 4, hbits: 2, scales: [0.731] },
  { bits: 8, hbits: 4, scales: [2.5] },
  { bits: 3, hbits: 1, scales: [0.4, 1.7, 3.1] }, // per sample (dynamic mode)
  { bits: 5, hbits: 5, scales: [1.1] },
];

describe.skipIf(!nativeBuilt)(`native PG quantizer and gate kernels${nativeSkipReason}`, () => {
  for (const c of cases) {
    it(`quantSplit ${c.bits}/${c.hbits} bits, ${c.scales.length} scale(s): r, hb, lb bit-identical to the composed tfjs ops`, () => {
      tf.tidy(() => {
        const x = tf.tensor(edgyInput(shape, c.scales, c.bits, 7 + c.bits), shape);
        const s = c.scales.length === 1 ? tf.tensor([c.scales[0]]) : tf.tensor(c.scales, [c.scales.length, 1, 1, 1]);
        const native = nativeQuantSplit(x, s, c.bits, c.hbits);
        expect(native).toBeDefined();
        const composed = composedQuantSplit(x, s, 2 ** c.bits - 1, 2 ** (c.bits - c.hbits));
        expectBitIdentical(native!.r, composed.r);
        expectBitIdentical(native!.hb, composed.hb);
        expectBitIdentical(native!.lb, composed.lb);
        // and to the quantizer the inference/export paths use
        const q = quantSplit(x, s, c.bits, c.hbits);
        expectBitIdentical(native!.hb, q.hb);
        expectBitIdentical(native!.lb, q.lb);
        // the inputs did reach the edges: some codes clipped, some exact halves
        const r = native!.r.dataSync();
        expect(Array.from(r).filter((v) => Math.abs(v) > 1).length).toBeGreaterThan(10);
        const n = 2 ** c.bits - 1;
        const halves = Array.from(r).filter((v) => {
          const p = Math.fround(Math.max(-1, Math.min(1, v)) * n);
          return Math.abs(p - Math.trunc(p)) === 0.5;
        });
        expect(halves.length).toBeGreaterThan(10);
      });
    });
  }

  for (const c of cases) {
    it(`fakeQuant ${c.bits} bits, ${c.scales.length} scale(s): x_q bit-identical to the composed ops; dx exact, ds within 1e-5 of autodiff's`, () => {
      tf.tidy(() => {
        const x = tf.tensor(edgyInput(shape, c.scales, c.bits, 41 + c.bits), shape);
        const s = c.scales.length === 1 ? tf.tensor([c.scales[0]]) : tf.tensor(c.scales, [c.scales.length, 1, 1, 1]);
        const native = nativeFakeQuant(x, s, c.bits);
        expect(native).toBeDefined();
        expectBitIdentical(native!, composedFakeQuant(x, s, c.bits));
        const dy = tf.tensor(uniform(x.size, 1, 42), shape);
        const loss = (f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), dy));
        const [dxN, dsN] = tf.grads(loss((a, b) => nativeFakeQuant(a, b, c.bits)!))([x, s]);
        const [dxC, dsC] = tf.grads(loss((a, b) => composedFakeQuant(a, b, c.bits)))([x, s]);
        expectBitIdentical(dxN, dxC);
        expectClose(dsN, dsC, 1e-5);
        expect(dsN.shape).toEqual(s.shape);
        expect(dxN.dataSync().some((v) => v === 0)).toBe(true); // clipped entries get no gradient
      });
    });
  }

  for (const withOffset of [false, true]) {
    it(`gate forward${withOffset ? ' with a gate offset (z = (O_hb + offset) - Δ)' : ''}: y, z, M, mean(M) and the counts bit-identical to the composed ops, including z = 0 and signed zeros`, () => {
      tf.tidy(() => {
        const ohbData = uniform(3 * 4 * 4 * 8, 2, 11);
        const delta = tf.tensor(uniform(8, 0.5, 12));
        const d = delta.dataSync();
        const offsetData = withOffset ? uniform(ohbData.length, 1.5, 14) : undefined;
        // z exactly 0: the gate stays off (with an offset, O_hb = Δ - offset when that sum rounds back to Δ)
        for (let i = 0; i < ohbData.length; i += 5) {
          const o = offsetData?.[i] ?? 0;
          const h = Math.fround(d[i % 8] - o);
          if (Math.fround(h + o) === d[i % 8]) ohbData[i] = h;
        }
        const ohb = tf.tensor(ohbData, [3, 4, 4, 8]);
        const olbData = uniform(ohbData.length, 1, 13);
        for (let i = 0; i < olbData.length; i += 9) olbData[i] = i % 2 ? -0 : 0;
        const olb = tf.tensor(olbData, [3, 4, 4, 8]);
        const offset = offsetData && tf.tensor(offsetData, [3, 4, 4, 8]);
        const native = nativeGateForward(ohb, olb, delta, offset, true);
        expect(native).toBeDefined();
        const composed = composedGateForward(ohb, olb, delta, offset);
        expectBitIdentical(native!.y, composed.y);
        expectBitIdentical(native!.z, composed.z);
        expectBitIdentical(native!.m!, composed.m);
        // ΣM / size as tf.mean's float sum and division: the same float
        expectBitIdentical(native!.fraction, composed.fraction);
        expectBitIdentical(native!.counts, composed.counts);
        // without M written, the rest is the same
        const noGate = nativeGateForward(ohb, olb, delta, offset, false)!;
        expect(noGate.m).toBeUndefined();
        expectBitIdentical(noGate.y, composed.y);
        expectBitIdentical(noGate.fraction, composed.fraction);
        const m = native!.m!.dataSync();
        expect(m.some((v) => v === 1) && m.some((v) => v === 0)).toBe(true);
        expect(Array.from(native!.z.dataSync()).filter((v) => v === 0).length).toBeGreaterThan(10);
        if (offset) {
          // the offset changes decisions: M differs from the plain gate's somewhere
          const plain = composedGateForward(ohb, olb, delta).m.dataSync();
          expect(Array.from(m).some((v, i) => v !== plain[i])).toBe(true);
        }
      });
    });
  }

  for (const sparse of [false, true]) {
    it(`gate backward (sparse back-prop ${sparse}): dO_lb exact; dO_hb, dΔ, Σ dO_lb·O_lb and dz (the offset's gradient) within 1e-5 of the composed ops, with no gradient reaching M, a tensor, or one value for all (the mean's)`, () => {
      tf.tidy(() => {
        const sh = [4, 5, 5, 16];
        const count = sh.reduce((a, b) => a * b, 1);
        const ohb = tf.tensor(uniform(count, 2, 21), sh);
        const olb = tf.tensor(uniform(count, 0.5, 22), sh);
        const delta = tf.tensor(uniform(16, 0.5, 23), [16]);
        const { z, m } = composedGateForward(ohb, olb, delta);
        const dy = tf.tensor(uniform(count, 1, 24), sh);
        const gateGrads: (GateGradient | undefined)[] = [undefined, { tensor: tf.tensor(uniform(count, 0.1, 25), sh) }, { uniform: tf.scalar(0.07) }];
        for (const dGate of gateGrads) {
          for (const wantDz of [false, true]) {
            const native = nativeGateBackward(dy, olb, z, dGate, delta, 5, sparse, wantDz);
            expect(native).toBeDefined();
            const composed = composedGateBackward(dy, olb, z, m, dGate, delta, { alpha: 5, sparseBackprop: sparse }, true, wantDz);
            expectBitIdentical(native!.dolb, composed.dolb);
            // tfjs-wasm's Sigmoid (XNNPACK's approximation) and float sums differ from expf and double sums in the last bits
            expectClose(native!.dohb, composed.dohb, 1e-5);
            expectClose(native!.dDelta, composed.dDelta, 1e-5);
            expectClose(native!.dotLb, composed.dotLb, 1e-5);
            expect(native!.dDelta.shape).toEqual(delta.shape);
            expect(native!.dz === undefined).toBe(!wantDz);
            if (dGate && 'uniform' in dGate) {
              // one value for all is the same as that value in every element
              const asTensor = nativeGateBackward(dy, olb, z, { tensor: tf.fill(sh, 0.07) }, delta, 5, sparse, wantDz)!;
              expectBitIdentical(native!.dohb, asTensor.dohb);
              expectBitIdentical(native!.dDelta, asTensor.dDelta);
            }
            if (wantDz) {
              expectClose(native!.dz!, composed.dz!, 1e-5);
              // dz is what dO_hb adds to dy
              expectClose(tf.add(dy, native!.dz!), native!.dohb, 1e-6);
              expect(native!.dz!.dataSync().some((v) => Math.abs(v) > 1e-3)).toBe(true);
            }
          }
        }
      });
    });
  }

  it('quantizer backward: dx exact; the scale gradient sum within 1e-5 of the composed ops (per tensor and per sample)', () => {
    tf.tidy(() => {
      for (const scales of [[0.8], [0.5, 1.0, 2.0]]) {
        const x = tf.tensor(edgyInput(shape, scales, 4, 31), shape);
        const s = scales.length === 1 ? tf.tensor([scales[0]]) : tf.tensor(scales, [3, 1, 1, 1]);
        const { r, hb } = composedQuantSplit(x, s, 15, 4);
        const g = tf.tensor(uniform(x.size, 1, 32), shape);
        const native = nativeQuantBackward(g, r, hb, s);
        expect(native).toBeDefined();
        const composed = composedQuantBackward(g, r, hb, s, true);
        expectBitIdentical(native!.dx, composed.dx);
        expectClose(native!.dsHb, composed.dsHb, 1e-5);
        expect(native!.dx.dataSync().some((v) => v === 0)).toBe(true); // clipped entries get no gradient
      }
    });
  });

  it('declines what it does not take (a scale per channel), so callers use the composed ops', () => {
    tf.tidy(() => {
      const x = tf.ones([2, 3, 3, 4]);
      expect(nativeQuantSplit(x, tf.ones([4]), 4, 2)).toBeUndefined();
      expect(nativeGateForward(x, x, tf.ones([3]), undefined, false)).toBeUndefined();
      expect(nativeQuantSplit(tf.ones([2, 3, 3, 4], 'int32'), tf.ones([1]), 4, 2)).toBeUndefined();
    });
  });
});

describe('composed fallback', () => {
  it('the native ops are absent on the cpu backend', async () => {
    await tf.setBackend('cpu');
    try {
      expect(nativeQuantSplit(tf.ones([2, 2]), tf.ones([1]), 4, 2)).toBeUndefined();
    } finally {
      await tf.setBackend('wasm');
    }
  });
});

describe.skipIf(!nativeBuilt)(`native weight quantizer${nativeSkipReason}`, () => {
  /** Weights at the quantizer's edges: rounding halves of the code grid (up to float rounding), ±0, the max. */
  function edgyWeights(count: number, bits: number, seed: number): Float32Array {
    const n = 2 ** bits - 1;
    const w = uniform(count, 0.2, seed);
    const sw = 0.25;
    w[0] = -sw;
    for (let i = 1; i < count; i++) {
      const sign = i % 2 === 0 ? 1 : -1;
      if (i % 5 === 0) w[i] = (sign * ((Math.floor((Math.abs(w[i]) / sw) * n) + 0.5) * sw)) / n;
      if (i % 11 === 0) w[i] = i % 22 === 0 ? -0 : 0;
    }
    return w;
  }

  it.each([1, 2, 4, 8, 16])('is bit-identical to the composed ops at %i bits (halves, ±0)', (bits) => {
    const w = tf.tensor4d(edgyWeights(3 * 5 * 3 * 3, bits, 7 + bits), [3, 5, 3, 3]);
    expectBitIdentical(nativeQuantizeWeights(w, bits) as tf.Tensor, composedQuantizeWeights(w, bits));
  });

  it('is bit-identical for an all-zero tensor (the scale floor)', () => {
    const w = tf.tensor1d([0, -0, 0, 0]);
    expectBitIdentical(nativeQuantizeWeights(w, 4) as tf.Tensor, composedQuantizeWeights(w, 4));
  });

  it('passes the gradient straight through, as the composed ops', () => {
    const w = tf.tensor2d(uniform(24, 1, 3), [4, 6]);
    const dy = tf.tensor2d(uniform(24, 2, 4), [4, 6]);
    const g = (f: (t: tf.Tensor) => tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), dy)))(w);
    expectBitIdentical(
      g((t) => nativeQuantizeWeights(t, 4) as tf.Tensor),
      g((t) => composedQuantizeWeights(t, 4)),
    );
    expectBitIdentical(
      g((t) => nativeQuantizeWeights(t, 4) as tf.Tensor),
      dy,
    );
  });
});
