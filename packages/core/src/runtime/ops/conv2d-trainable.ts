import * as tf from '@tensorflow/tfjs-core';
import { customGrad } from '../custom-grad.js';

export interface Conv2dGeometry {
  strides: [number, number];
  /** Explicit padding [top, bottom, left, right]. */
  pads: [number, number, number, number];
  dilations: [number, number];
}

/**
 * NHWC conv2d (+ bias, fused into the kernel) whose gradient works on every backend. tfjs's wasm backend
 * has no Conv2DBackpropFilter kernel, so the filter gradient is computed here as one matmul over an
 * im2col of the input (strided slices, which every backend has and XNNPACK makes fast); the input
 * gradient uses Conv2DBackpropInput, which wasm has.
 */
export function conv2dTrainable(x: tf.Tensor4D, w: tf.Tensor4D, g: Conv2dGeometry, bias?: tf.Tensor): tf.Tensor4D {
  const [pt, pb, pl, pr] = g.pads;
  const explicit: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [pt, pb], [pl, pr], [0, 0]];
  const backward = (d: tf.Tensor4D, xs: tf.Tensor4D, ws: tf.Tensor4D): tf.Tensor[] => {
    if (g.dilations[0] !== 1 || g.dilations[1] !== 1) {
      throw new Error('training through a dilated convolution is not supported yet');
    }
    return [tf.conv2dTranspose(d, ws, xs.shape, g.strides, explicit), conv2dFilterGrad(xs, d, ws.shape, g)];
  };
  if (!bias) {
    const op = customGrad<[tf.Tensor4D, tf.Tensor4D]>(([xi, wi], save) => {
      save([xi, wi]);
      return {
        value: tf.conv2d(xi, wi, g.strides, explicit, 'NHWC', g.dilations),
        gradFunc: (dy, [xs, ws]) => backward(dy as tf.Tensor4D, xs as tf.Tensor4D, ws as tf.Tensor4D),
      };
    });
    return op(x, w) as tf.Tensor4D;
  }
  const op = customGrad<[tf.Tensor4D, tf.Tensor4D, tf.Tensor]>(([xi, wi, bi], save) => {
    save([xi, wi]);
    return {
      // A broadcast bias add is one of tfjs-wasm's slow kernels; the fused conv adds it for free.
      value: tf.fused.conv2d({ x: xi, filter: wi, strides: g.strides, pad: explicit, dataFormat: 'NHWC', dilations: g.dilations, bias: bi }),
      gradFunc: (dy, [xs, ws]) => [...backward(dy as tf.Tensor4D, xs as tf.Tensor4D, ws as tf.Tensor4D), tf.reshape(tf.sum(dy, [0, 1, 2]), bi.shape)],
    };
  });
  return op(x, w, bias) as tf.Tensor4D;
}

/** dL/dW for an NHWC conv: im2col(x)^T · dy, reshaped to [kh, kw, cin, cout]. */
export function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, wShape: number[], g: Conv2dGeometry): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, cin, cout] = wShape;
    const [n, ho, wo] = dy.shape;
    const [pt, pb, pl, pr] = g.pads;
    const xp = pt || pb || pl || pr ? tf.pad(x, [[0, 0], [pt, pb], [pl, pr], [0, 0]]) : x;
    const [sh, sw] = g.strides;
    const [dh, dw] = g.dilations;
    const cols: tf.Tensor[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const begin = [0, i * dh, j * dw, 0];
        const end = [n, i * dh + (ho - 1) * sh + 1, j * dw + (wo - 1) * sw + 1, cin];
        cols.push(kh === 1 && kw === 1 && sh === 1 && sw === 1 && ho === xp.shape[1] && wo === xp.shape[2] ? xp : tf.stridedSlice(xp, begin, end, [1, sh, sw, 1]));
      }
    }
    const im2col = tf.reshape(cols.length === 1 ? cols[0] : tf.concat(cols, 3), [n * ho * wo, kh * kw * cin]);
    const dw2 = tf.matMul(im2col, tf.reshape(dy, [n * ho * wo, cout]), true, false);
    return tf.reshape(dw2, [kh, kw, cin, cout]) as tf.Tensor4D;
  });
}
