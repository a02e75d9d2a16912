import * as tf from '@tensorflow/tfjs-core';
import { loadNativeKernels } from '@pg/native-kernels';
import { expect } from 'vitest';

// Shared by the native-kernel tests: whether the addon runs here, and the bit-level comparisons they make.

const load = loadNativeKernels();
/** The addon is built and not turned off with PG_NATIVE=0. */
export const nativeBuilt = load.ok && process.env.PG_NATIVE !== '0';
/** Appended to a skipped describe's title: why it was skipped. */
export const nativeSkipReason = nativeBuilt ? '' : ` (skipped: the addon is not built or is off: ${load.ok ? 'PG_NATIVE=0' : load.reason}; CI builds it with libdnnl-dev + g++)`;

/** Deterministic pseudo-random floats in [-a, a). */
export function uniform(count: number, a: number, seed: number): Float32Array {
  let st = seed >>> 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    st = (Math.imul(st, 1664525) + 1013904223) >>> 0;
    out[i] = (st / 2 ** 32 - 0.5) * 2 * a;
  }
  return out;
}

/** A float32 tensor's values as their bit patterns. */
export function bits32(t: tf.Tensor): Uint32Array {
  return new Uint32Array((t.dataSync() as Float32Array).slice().buffer);
}

/** Same shape and the same bits in every element (−0 and NaN payloads included). */
export function expectBitIdentical(a: tf.Tensor, b: tf.Tensor): void {
  expect(a.shape).toEqual(b.shape);
  const [x, y] = [bits32(a), bits32(b)];
  let diff = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) diff++;
  expect(diff).toBe(0);
}
