import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { conv2dTrainable, type Conv2dGeometry } from './conv2d-trainable.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const cases: [string, Conv2dGeometry, [number, number, number, number], [number, number, number, number]][] = [
  ['3x3 stride 1 pad 1', { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1] }, [2, 7, 7, 3], [3, 3, 3, 4]],
  ['3x3 stride 2 asymmetric pad', { strides: [2, 2], pads: [1, 0, 0, 1], dilations: [1, 1] }, [2, 8, 9, 2], [3, 3, 2, 5]],
  ['1x1 stride 2', { strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1] }, [3, 6, 6, 4], [1, 1, 4, 3]],
  ['1x1 stride 1', { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1] }, [3, 5, 5, 4], [1, 1, 4, 3]],
  ['3x3 stride 2 pad 1, even input', { strides: [2, 2], pads: [1, 1, 1, 1], dilations: [1, 1] }, [2, 8, 8, 3], [3, 3, 3, 4]],
  ['3x3 stride 2 no pad, rows left unread', { strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1] }, [2, 8, 8, 2], [3, 3, 2, 2]],
  ['5x5 stride 1 pad 2', { strides: [1, 1], pads: [2, 2, 2, 2], dilations: [1, 1] }, [1, 6, 6, 2], [5, 5, 2, 3]],
];

describe('conv2dTrainable', () => {
  for (const [label, g, xs, ws] of cases) {
    it(`${label}: gradients equal the cpu backend's own Conv2D gradients`, async () => {
      const x = tf.randomNormal(xs, 0, 1, 'float32', 1) as tf.Tensor4D;
      const w = tf.randomNormal(ws, 0, 1, 'float32', 2) as tf.Tensor4D;
      const xData = x.arraySync();
      const wData = w.arraySync();
      const up = tf.randomNormal(conv2dTrainable(x, w, g).shape, 0, 1, 'float32', 3);
      const upData = up.arraySync();
      const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv2dTrainable(a as tf.Tensor4D, b as tf.Tensor4D, g), up)))([x, w]);
      const ours = [gx.dataSync().slice(), gw.dataSync().slice()];

      await tf.setBackend('cpu');
      const pad: [[number, number], [number, number], [number, number], [number, number]] = [
        [0, 0],
        [g.pads[0], g.pads[1]],
        [g.pads[2], g.pads[3]],
        [0, 0],
      ];
      const upc = tf.tensor(upData);
      const [cx, cw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, g.strides, pad), upc)))([
        tf.tensor(xData),
        tf.tensor(wData),
      ]);
      const ref = [cx.dataSync().slice(), cw.dataSync().slice()];
      await tf.setBackend('wasm');

      for (let k = 0; k < 2; k++) {
        expect(ours[k].length).toBe(ref[k].length);
        ours[k].forEach((v, i) => expect(v).toBeCloseTo(ref[k][i], 3));
      }
    });
  }
});
