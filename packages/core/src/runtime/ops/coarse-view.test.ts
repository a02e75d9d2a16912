import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { sliceCoarse, transposeCoarse } from './coarse-view.js';

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
  ])('slices %s like tf.slice', (_what, begin, size) => {
    same(sliceCoarse(x, begin, size), tf.slice(x, begin, size));
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
});
