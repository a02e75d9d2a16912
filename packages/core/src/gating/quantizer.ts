import * as tf from '@tensorflow/tfjs-core';
import { customGrad } from '../interpreter/custom-grad.js';
import { nativeFakeQuant, nativeQuantizeWeights } from './native/ops.js';
import { steClipRound, steTrunc, stopGradient } from './ste.js';

/**
 * The PG quantizer (docs/method.md). Gradients come from autodiff with straight-through round/trunc:
 * x gets the identity inside the clip range (zero outside) through x_q and x_hb, nothing through
 * x_lb = x_q - x_hb; a learnable scale gets the LSQ gradient (q/n - x/s inside, ±1 outside).
 * Results are bit-identical to the ONNX function of the gated op: clip(x/s, -1, 1) * n rounds half to
 * even symmetrically, so round(clip(x/s)·n) = sign(x)·round(clip(|x|/s)·n), and (sign·q)·unit = q_s·unit.
 */

/** Smallest scale; keeps an all-zero tensor from dividing by zero. */
export const SCALE_FLOOR = 1e-12;

export const levels = (bits: number): number => 2 ** bits - 1;

/** Per-sample max|x| over all but the batch axis, shaped to broadcast against x. */
export function dynamicScale(x: tf.Tensor): tf.Tensor {
  const axes = x.shape.map((_, i) => i).slice(1);
  return tf.max(tf.abs(x), axes, true);
}

/**
 * The scale the quantizer uses: the static one, or max(per-sample max|x|, static) in dynamic mode, where
 * the static input holds the floor (see the ActScale input in docs/gated-format.md). No gradient flows
 * through a dynamic scale.
 */
export function effectiveScale(x: tf.Tensor, staticScale: tf.Tensor, dynamic: boolean): tf.Tensor {
  return dynamic ? stopGradient(tf.maximum(dynamicScale(x), staticScale)) : staticScale;
}

/** Signed codes q_s = round(clip(x/s, -1, 1) · (2^B - 1)) and the unit s/(2^B - 1). */
function signedCodes(x: tf.Tensor, s: tf.Tensor, bits: number): { qs: tf.Tensor; unit: tf.Tensor } {
  const n = levels(bits);
  return { qs: steClipRound(tf.div(x, s), n), unit: tf.div(s, n) };
}

/**
 * B-bit fake quantization x_q = q_s · s/(2^B - 1). One native pass (bit-identical, with the same
 * straight-through gradients) when the native kernels are on; the composed ops otherwise.
 */
export function fakeQuant(x: tf.Tensor, s: tf.Tensor, bits: number): tf.Tensor {
  return nativeFakeQuant(x, s, bits) ?? composedFakeQuant(x, s, bits);
}

/**
 * Quantizes x to B bits and splits it: x_hb keeps the top B_hb bits of the code (truncation, so
 * q = 2^(B-B_hb)·q_hb + q_lb exactly), x_lb = x_q - x_hb.
 */
export function quantSplit(x: tf.Tensor, s: tf.Tensor, bits: number, hbits: number): { hb: tf.Tensor; lb: tf.Tensor } {
  const { qs, unit } = signedCodes(x, s, bits);
  const step = 2 ** (bits - hbits);
  const qhb = tf.mul(steTrunc(tf.mul(qs, 1 / step)), step);
  const xq = tf.mul(qs, unit);
  const hb = tf.mul(qhb, unit);
  return { hb, lb: tf.sub(xq, hb) };
}

/**
 * Per-tensor symmetric weight quantization to `wbits` (2^wbits - 1 magnitude levels and a sign), with
 * a straight-through gradient. Same op order as the ONNX function. One native pass (bit-identical) when the
 * native kernels are on; the composed ops otherwise.
 */
export function quantizeWeights(w: tf.Tensor, wbits: number): tf.Tensor {
  return nativeQuantizeWeights(w, wbits) ?? composedQuantizeWeights(w, wbits);
}

/** quantizeWeights' composed tfjs ops (the fallback; tests compare the native kernel with it). */
export function composedQuantizeWeights(w: tf.Tensor, wbits: number): tf.Tensor {
  const n = levels(wbits);
  const f = customGrad<[tf.Tensor]>(([wi]) => {
    const aw = tf.abs(wi);
    const sw = tf.maximum(tf.max(aw), SCALE_FLOOR);
    const wq = tf.mul(tf.sign(wi), tf.mul(tf.div(tf.round(tf.mul(tf.div(aw, sw), n)), n), sw));
    return { value: wq, gradFunc: (dy) => [dy] };
  });
  return f(w);
}

/**
 * Integer weight codes k = sign(W)·round(|W|/s_w·n_w) and the unit s_w/n_w (the version-2 form; quantizeWeights
 * is k·unit up to float32 rounding). No gradient: inference only.
 */
export function weightCodes(w: tf.Tensor, wbits: number): { k: tf.Tensor; unit: tf.Tensor } {
  const n = levels(wbits);
  const aw = tf.abs(w);
  const sw = tf.maximum(tf.max(aw), SCALE_FLOOR);
  return { k: tf.mul(tf.sign(w), tf.round(tf.mul(tf.div(aw, sw), n))), unit: tf.div(sw, n) };
}

/** Signed activation codes q_s = round(clip(x/s, -1, 1)·n) and the unit s/n, without gradients (inference). */
export function integerCodes(x: tf.Tensor, s: tf.Tensor, bits: number): { qs: tf.Tensor; unit: tf.Tensor } {
  const n = levels(bits);
  return { qs: tf.round(tf.mul(tf.clipByValue(tf.div(x, s), -1, 1), n)), unit: tf.div(s, n) };
}

/** fakeQuant's composed tfjs ops (the fallback; tests compare the native kernel with it). */
export function composedFakeQuant(x: tf.Tensor, s: tf.Tensor, bits: number): tf.Tensor {
  const { qs, unit } = signedCodes(x, s, bits);
  return tf.mul(qs, unit);
}
