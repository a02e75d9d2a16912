import * as tf from '@tensorflow/tfjs-core';
import { customGrad } from '../interpreter/custom-grad.js';

export interface GateOptions {
  /** Slope α of the sigmoid surrogate (the method uses 5). */
  alpha: number;
  /** Zero the surrogate gradient where the gate is off ("sparse back-prop"). */
  sparseBackprop: boolean;
}

/**
 * The gate M = 1[O_hb > Δ] from z = O_hb - Δ (Δ per output channel, the last axis). Forward is the hard
 * step; backward is the derivative of sigmoid(α z), which autodiff passes on to O_hb and, negated and
 * summed per channel, to Δ.
 */
export function gate(ohb: tf.Tensor, delta: tf.Tensor, opts: GateOptions): tf.Tensor {
  const f = customGrad<[tf.Tensor]>(([z], save) => {
    const m = tf.step(z);
    save([z, m]);
    return {
      value: m,
      gradFunc: (dy, [zs, ms]) => {
        const sg = tf.sigmoid(tf.mul(zs, opts.alpha));
        let g = tf.mul(tf.mul(sg, tf.sub(1, sg)), opts.alpha);
        if (opts.sparseBackprop) g = tf.mul(g, ms);
        return [tf.mul(dy, g)];
      },
    };
  });
  return f(tf.sub(ohb, delta));
}
