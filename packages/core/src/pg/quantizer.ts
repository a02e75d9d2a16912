import * as tf from '@tensorflow/tfjs-core';
import { customGrad } from '../runtime/custom-grad.js';

/**
 * The PG quantizer (see docs/method.md). The op sequence here is the one the gated model's ONNX function
 * spells out, op for op, so pg and ONNX Runtime round identically.
 */

/** Smallest scale; keeps an all-zero tensor from dividing by zero. */
export const SCALE_FLOOR = 1e-12;

export const levels = (bits: number): number => 2 ** bits - 1;

/** Per-sample max|x| over all but the batch axis, shaped to broadcast against x. */
export function dynamicScale(x: tf.Tensor): tf.Tensor {
  const axes = x.shape.map((_, i) => i).slice(1);
  return tf.max(tf.abs(x), axes, true);
}

/** The scale the quantizer uses: max(dynamic * perSampleMax, static). See the act_scale input in docs/gated-format.md. */
export function effectiveScale(x: tf.Tensor, staticScale: tf.Tensor, dynamic: boolean): tf.Tensor {
  return dynamic ? tf.maximum(dynamicScale(x), staticScale) : staticScale;
}

interface Codes {
  sign: tf.Tensor;
  /** q = round(clamp(|x|/s, 0, 1) * (2^B - 1)) */
  q: tf.Tensor;
  /** |x| < s: where the straight-through gradient passes. */
  inside: tf.Tensor;
  unit: tf.Tensor;
}

function codes(x: tf.Tensor, s: tf.Tensor, n: number): Codes {
  const ax = tf.abs(x);
  const r = tf.clipByValue(tf.div(ax, s), 0, 1);
  return { sign: tf.sign(x), q: tf.round(tf.mul(r, n)), inside: tf.cast(tf.less(ax, s), 'float32'), unit: tf.div(s, n) };
}

/** Sums a gradient down to the shape of the scale it belongs to. */
function reduceTo(g: tf.Tensor, shape: number[]): tf.Tensor {
  const full = [...new Array<number>(g.rank - shape.length).fill(1), ...shape];
  const axes = full.map((d, i) => (d === 1 && g.shape[i] !== 1 ? i : -1)).filter((i) => i >= 0);
  const r = axes.length ? tf.sum(g, axes, true) : g;
  return tf.reshape(r, shape);
}

/**
 * B-bit fake quantization x_q = sign(x) * q * s/(2^B-1). Straight-through gradient to x inside the clip
 * range; LSQ-style gradient to a learnable scale (x_q/s - x/s inside, sign(x) outside). With a dynamic
 * scale the caller passes `learnScale = false` and the scale gets no gradient (as in the method).
 */
export function fakeQuant(x: tf.Tensor, s: tf.Tensor, bits: number, learnScale: boolean): tf.Tensor {
  const n = levels(bits);
  const f = customGrad<[tf.Tensor, tf.Tensor]>(([xi, si], save) => {
    const c = codes(xi, si, n);
    const xq = tf.mul(tf.mul(c.sign, c.q), c.unit);
    save([xi, si, xq, c.inside]);
    return {
      value: xq,
      gradFunc: (dy, [xs, ss, xqs, inside]) => {
        const dx = tf.mul(dy, inside);
        const ds = learnScale
          ? reduceTo(tf.mul(dy, tf.add(tf.mul(inside, tf.sub(tf.div(xqs, ss), tf.div(xs, ss))), tf.mul(tf.sub(1, inside), tf.sign(xs)))), ss.shape)
          : tf.zerosLike(ss);
        return [dx, ds];
      },
    };
  });
  return f(x, s);
}

/**
 * Quantizes x to B bits and splits it into its high and low parts, stacked on the batch axis:
 * [x_hb; x_lb] with q_hb = floor(q / 2^(B-B_hb)), x_hb = sign * q_hb * 2^(B-B_hb) * s/n, x_lb = x_q - x_hb.
 * Gradients: x receives the straight-through gradient of the x_hb half only (floor is passed straight
 * through too; nothing flows back through the low-bit branch); a learnable scale gets the LSQ-style
 * gradient of both halves.
 */
export function quantSplit(x: tf.Tensor, s: tf.Tensor, bits: number, hbits: number, learnScale: boolean): tf.Tensor {
  const n = levels(bits);
  const step = 2 ** (bits - hbits);
  const f = customGrad<[tf.Tensor, tf.Tensor]>(([xi, si], save) => {
    const c = codes(xi, si, n);
    const qhb = tf.mul(tf.floor(tf.div(c.q, step)), step);
    const xq = tf.mul(tf.mul(c.sign, c.q), c.unit);
    const xhb = tf.mul(tf.mul(c.sign, qhb), c.unit);
    const xlb = tf.sub(xq, xhb);
    save([xi, si, xhb, xlb, c.inside]);
    return {
      value: tf.concat([xhb, xlb], 0),
      gradFunc: (dy, [xs, ss, xhbs, xlbs, inside]) => {
        const [dyHb, dyLb] = tf.split(dy, 2, 0);
        const dx = tf.mul(dyHb, inside);
        if (!learnScale) return [dx, tf.zerosLike(ss)];
        const outside = tf.mul(tf.sub(1, inside), tf.sign(xs));
        const dHb = tf.add(tf.mul(inside, tf.sub(tf.div(xhbs, ss), tf.div(xs, ss))), outside);
        const dLb = tf.mul(inside, tf.div(xlbs, ss));
        return [dx, reduceTo(tf.add(tf.mul(dyHb, dHb), tf.mul(dyLb, dLb)), ss.shape)];
      },
    };
  });
  return f(x, s);
}

/**
 * Per-tensor symmetric weight quantization to `wbits` (2^wbits - 1 magnitude levels and a sign), with
 * a straight-through gradient. Same op order as the ONNX function.
 */
export function quantizeWeights(w: tf.Tensor, wbits: number): tf.Tensor {
  const n = levels(wbits);
  const f = customGrad<[tf.Tensor]>(([wi]) => {
    const aw = tf.abs(wi);
    const sw = tf.maximum(tf.max(aw), SCALE_FLOOR);
    const wq = tf.mul(tf.sign(wi), tf.mul(tf.div(tf.round(tf.mul(tf.div(aw, sw), n)), n), sw));
    return { value: wq, gradFunc: (dy) => [dy] };
  });
  return f(w);
}
