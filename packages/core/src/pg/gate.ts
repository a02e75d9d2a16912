import * as tf from '@tensorflow/tfjs-core';
import { customGrad } from '../runtime/custom-grad.js';

export interface GateOptions {
  /** Slope of the sigmoid surrogate (the method uses 5). */
  alpha: number;
  /** Zero the surrogate gradient where the gate is off ("sparse back-prop"). */
  sparseBackprop: boolean;
}

/**
 * The gate M = 1[O_hb > Δ], Δ per output channel (last axis). Forward is the hard step; backward is the
 * derivative of sigmoid(α (O_hb - Δ)), for O_hb and (negated, summed per channel) for Δ.
 */
export function gate(ohb: tf.Tensor, delta: tf.Tensor, opts: GateOptions): tf.Tensor {
  const f = customGrad<[tf.Tensor, tf.Tensor]>(([o, d], save) => {
    const m = tf.cast(tf.greater(o, d), 'float32');
    save([o, d, m]);
    return {
      value: m,
      gradFunc: (dy, [os, ds, ms]) => {
        const sg = tf.sigmoid(tf.mul(tf.sub(os, ds), opts.alpha));
        let g = tf.mul(tf.mul(sg, tf.sub(1, sg)), opts.alpha);
        if (opts.sparseBackprop) g = tf.mul(g, ms);
        const dO = tf.mul(dy, g);
        const axes = dO.shape.map((_, i) => i).slice(0, -1);
        return [dO, tf.reshape(tf.neg(tf.sum(dO, axes)), ds.shape)];
      },
    };
  });
  return f(ohb, delta);
}
