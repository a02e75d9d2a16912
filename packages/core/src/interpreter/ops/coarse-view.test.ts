import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { concatCoarse, sliceCoarse, transposeCoarse } from './coarse-view.js';

// Slices and transposes on merged views must give exactly tf.slice's and tf.transpose's elements.

beforeAll(async () => {
  await initBackend('wasm');
});

const same = (a: tf.Tensor, b: tf.Tensor) => {
  expect(a.shape).toEqual(b.shape);
  expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
};

describe('coarse views', () => {
  let x: tf.Tensor;
  beforeAll(() => {
    x = tf.range(0, 2 * 6 * 3 * 5).reshape([2, 6, 3, 5]);
  });

  it.each([
    ['a channel slice of NCHW', [0, 2, 0, 0], [2, 3, 3, 5]],
    ['a channel slice of NHWC (last axis)', [0, 0, 0, 1], [2, 6, 3, 3]],
    ['a batch slice', [1, 0, 0, 0], [1, 6, 3, 5]],
    ['two sliced axes', [1, 1, 1, 0], [1, 4, 2, 5]],
    ['the whole tensor', [0, 0, 0, 0], [2, 6, 3, 5]],
    ['an empty part', [0, 6, 0, 0], [2, 0, 3, 5]],
  ])('slices %s like tf.slice, with and without the heap copy', (_what, begin, size) => {
    same(sliceCoarse(x, begin, size, { differentiable: true }), tf.slice(x, begin, size));
    same(sliceCoarse(x, begin, size, { differentiable: false }), tf.slice(x, begin, size));
    const xi = tf.cast(x, 'int32');
    same(sliceCoarse(xi, begin, size, { differentiable: false }), tf.slice(xi, begin, size));
  });

  it.each([
    ['channels of NHWC (last axis)', 3, [1, 4, 2]],
    ['channels of NCHW', 1, [2, 3, 1]],
    ['with an empty part', 3, [0, 5, 3]],
    ['the batch', 0, [1, 2, 1]],
  ])('concatenates %s like tf.concat', (_what, axis, widths) => {
    const parts = widths.map((w, i) => {
      const shape = [2, 6, 3, 5];
      shape[axis] = w;
      return tf.add(
        tf
          .range(
            0,
            shape.reduce((a, b) => a * b, 1),
          )
          .reshape(shape),
        1000 * i,
      );
    });
    same(concatCoarse(parts, axis, { differentiable: false }), tf.concat(parts, axis));
    same(concatCoarse(parts, axis, { differentiable: true }), tf.concat(parts, axis));
  });

  it('copies bits exactly (NaN payloads, -0) in the heap copy', () => {
    const bits = new Int32Array([0x7fc00001, 0x80000000, 0x7f800000, 1, -1, 0x12345678]);
    const f = tf.tensor(new Float32Array(bits.buffer), [3, 2]);
    const got = new Int32Array((sliceCoarse(f, [0, 1], [3, 1], { differentiable: false }).dataSync() as Float32Array).buffer);
    expect(Array.from(got)).toEqual([bits[1], bits[3], bits[5]]);
  });

  it.each([
    ['NHWC to NCHW', [0, 3, 1, 2]],
    ['NCHW to NHWC', [0, 2, 3, 1]],
    ['a 2-D swap', [1, 0, 2, 3]],
    ['the identity', [0, 1, 2, 3]],
    ['a full reversal', [3, 2, 1, 0]],
  ])('transposes %s like tf.transpose', (_what, perm) => {
    same(transposeCoarse(x, perm), tf.transpose(x, perm));
  });

  it("transposes ShuffleNet's 5-D shuffle like tf.transpose, and leaves no tensors behind", () => {
    const y = tf.reshape(x, [2, 2, 3, 3, 5]);
    const before = tf.memory().numTensors;
    const got = transposeCoarse(y, [0, 2, 1, 3, 4]);
    expect(tf.memory().numTensors).toBe(before + 1);
    same(got, tf.transpose(y, [0, 2, 1, 3, 4]));
  });

  it("transposes a transformer's 5-D qkv split and 6-D perms that merge no dims, and their gradients, like tf.transpose", () => {
    const qkv = tf.range(0, 2 * 4 * 3 * 2 * 5).reshape([2, 4, 3, 2, 5]);
    const six = tf.range(0, 2 * 3 * 2 * 4 * 2 * 3).reshape([2, 3, 2, 4, 2, 3]);
    for (const [t, perm] of [
      [qkv, [2, 0, 3, 1, 4]],
      [qkv, [4, 3, 2, 1, 0]],
      [six, [5, 3, 1, 0, 4, 2]],
      [six, [1, 0, 3, 2, 5, 4]],
    ] as const) {
      const before = tf.memory().numTensors;
      const got = transposeCoarse(t, perm);
      expect(tf.memory().numTensors).toBe(before + 1);
      same(got, tf.transpose(t, [...perm]));
      const r = tf.randomNormal(got.shape, 0, 1, 'float32', 3);
      const loss = (f: (v: tf.Tensor) => tf.Tensor) => (v: tf.Tensor) => tf.sum(tf.mul(f(v), r));
      same(tf.grad(loss((v) => transposeCoarse(v, perm)))(t), tf.grad(loss((v) => tf.transpose(v, [...perm])))(t));
    }
  });
});
