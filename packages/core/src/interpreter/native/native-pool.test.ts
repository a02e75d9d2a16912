import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, it } from 'vitest';
import { initBackend } from '../backend.js';
import { expectBitIdentical, nativeBuilt, nativeSkipReason, uniform } from '../../../test/support/native.js';
import { nativeMaxPool } from './pool-ops.js';

beforeAll(async () => {
  await initBackend('wasm');
});

describe.skipIf(!nativeBuilt)(`native max pool${nativeSkipReason}`, () => {
  type Case = { name: string; shape: [number, number, number, number]; k: [number, number]; s: [number, number]; pads: [[number, number], [number, number]] };
  const cases: Case[] = [
    {
      name: "ResNet's stem (3x3, stride 2, pad 1)",
      shape: [2, 9, 9, 3],
      k: [3, 3],
      s: [2, 2],
      pads: [
        [1, 1],
        [1, 1],
      ],
    },
    {
      name: '2x2 stride 2, no pads',
      shape: [1, 6, 8, 5],
      k: [2, 2],
      s: [2, 2],
      pads: [
        [0, 0],
        [0, 0],
      ],
    },
    {
      name: 'asymmetric pads, stride 1',
      shape: [2, 5, 6, 4],
      k: [3, 2],
      s: [1, 1],
      pads: [
        [0, 2],
        [1, 0],
      ],
    },
  ];
  const pad = (c: Case): tf.backend_util.ExplicitPadding => [[0, 0], c.pads[0], c.pads[1], [0, 0]];
  const outSize = (c: Case, i: 0 | 1) => Math.floor((c.shape[i + 1] + c.pads[i][0] + c.pads[i][1] - c.k[i]) / c.s[i]) + 1;
  const native = (c: Case, x: tf.Tensor4D) => nativeMaxPool(x, { kernel: c.k, strides: c.s, padBegin: [c.pads[0][0], c.pads[1][0]] }, outSize(c, 0), outSize(c, 1)) as tf.Tensor4D;
  // The composed training path it replaces (interpreter/ops/pool.ts): tfjs-wasm's pool and MaxPoolGrad on x - m,
  // padding 0, m below every value; the forward it compares against is the plain pool (max is exact).
  const composedForGrad = (c: Case, x: tf.Tensor4D) => {
    const m = tf.scalar(Math.fround(tf.min(x).dataSync()[0]) - 1);
    return tf.add(tf.maxPool(tf.sub(x, m) as tf.Tensor4D, c.k, c.s, pad(c)), m);
  };
  // Integer values in a small range make ties in most windows; negatives check the padding never wins.
  const tieInput = (c: Case, seed: number) =>
    tf.tensor4d(
      Array.from(
        uniform(
          c.shape.reduce((a, b) => a * b, 1),
          3,
          seed,
        ),
        (v) => Math.floor(v) - 1,
      ),
      c.shape,
    );

  it.each(cases)('forward equals tf.maxPool: $name', (c) => {
    for (const x of [
      tf.tensor4d(
        uniform(
          c.shape.reduce((a, b) => a * b, 1),
          5,
          11,
        ),
        c.shape,
      ),
      tieInput(c, 12),
    ]) {
      expectBitIdentical(native(c, x), tf.maxPool(x, c.k, c.s, pad(c)));
    }
  });

  it.each(cases)("gradient equals tfjs's MaxPoolGrad, ties included: $name", (c) => {
    for (const x of [
      tf.tensor4d(
        uniform(
          c.shape.reduce((a, b) => a * b, 1),
          5,
          21,
        ),
        c.shape,
      ),
      tieInput(c, 22),
    ]) {
      const dy = tf.tensor4d(uniform(c.shape[0] * outSize(c, 0) * outSize(c, 1) * c.shape[3], 1, 23), [c.shape[0], outSize(c, 0), outSize(c, 1), c.shape[3]]);
      const g = (f: (t: tf.Tensor4D) => tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t as tf.Tensor4D), dy)))(x);
      expectBitIdentical(
        g((t) => native(c, t)),
        g((t) => composedForGrad(c, t)),
      );
    }
  });
});
