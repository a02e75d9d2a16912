import * as tf from '@tensorflow/tfjs-core';
import { nativeConvAvailable } from '../interpreter/native/index.js';
import type { Conv2dGeometry } from '../interpreter/ops/conv2d-trainable.js';
import { fusedPgConv, type FusedGate, type FusedPgConvOptions } from './fused-conv.js';

const POINTWISE: Conv2dGeometry = { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1] };

/**
 * The training path of a gated linear layer on tokens (PGMatMul: x [N, ..., K] · W [K, F] + b, gated per
 * output feature) as fusedPgConv's one op: the product is a 1x1 convolution of the NHWC image
 * [N, T, 1, K] (T the product of x's middle axes) by the filter [1, 1, K, F], which is W as it is. The
 * composed path (quantSplit, two products, the gate and their autodiff) runs a dozen element-wise passes
 * forward and twice that backward, and a second input-gradient product; the fused op runs the native
 * quantizer and gate passes and one input gradient (fused-conv.ts says why that is exact). The scale is a
 * scalar or per sample ([N, 1, ..., 1]). Undefined when the native kernels are off (the composed path is
 * then the faster) and for operands it does not take (a gate offset not of the output's shape: the composed
 * path says what is wrong).
 */
export function fusedPgMatMul(
  x: tf.Tensor,
  w: tf.Tensor2D,
  bias: tf.Tensor | undefined,
  delta: tf.Tensor,
  s: tf.Tensor,
  opts: Omit<FusedPgConvOptions, 'geometry' | 'weightLayout'>,
  offset?: tf.Tensor,
): FusedGate | undefined {
  const [k, f] = w.shape;
  const outShape = [...x.shape.slice(0, -1), f];
  if (x.rank < 2 || w.rank !== 2 || x.shape[x.rank - 1] !== k || (offset && !tf.util.arraysEqual(offset.shape, outShape))) return undefined;
  const n = x.shape[0];
  const t = x.size / (n * k);
  const image = (v: tf.Tensor, channels: number) => tf.reshape(v, [n, t, 1, channels]) as tf.Tensor4D;
  const xi = image(x, k);
  if (!nativeConvAvailable(xi, [1, 1, k, f], POINTWISE, 1, bias)) return undefined;
  const scale = s.size === 1 ? s : tf.reshape(s, [n, 1, 1, 1]);
  const r = fusedPgConv(xi, tf.reshape(w, [1, 1, k, f]) as tf.Tensor4D, bias, delta, scale, { ...opts, geometry: POINTWISE }, offset && image(offset, f));
  return { ...r, y: tf.reshape(r.y, outShape), gate: r.gate && tf.reshape(r.gate, outShape) };
}
