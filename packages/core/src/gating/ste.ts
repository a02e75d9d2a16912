import * as tf from '@tensorflow/tfjs-core';
import { customGrad } from '../interpreter/custom-grad.js';

/**
 * round(clip(r, -1, 1) · n) forward; backward n · 1[|r| <= 1] (straight through the rounding, zero where
 * clipped; the bounds pass, as with tf.clipByValue). One op instead of tf.clipByValue + round: clipByValue's own gradient runs four of tfjs-wasm's
 * slow kernels (GreaterEqual, LessEqual, LogicalAnd, Select), a quarter of a training step on the bundled model.
 */
export function steClipRound(r: tf.Tensor, n: number): tf.Tensor {
  const f = customGrad<[tf.Tensor]>(([v], save) => {
    save([v]);
    return {
      value: tf.round(tf.mul(tf.clipByValue(v, -1, 1), n)),
      gradFunc: (dy, [vs]) => [tf.mul(dy, tf.mul(tf.sub(1, tf.step(tf.sub(tf.abs(vs), 1))), n))],
    };
  });
  return f(r);
}

/**
 * Truncation toward zero forward, identity backward. Built as floor(relu(t)) - floor(relu(-t)) because
 * tfjs's wasm kernels for relu/floor/neg are fast and those for sign/mod are far slower (docs/architecture.md).
 */
export const steTrunc = customGrad<[tf.Tensor]>(([t]) => ({
  value: tf.sub(tf.floor(tf.relu(t)), tf.floor(tf.relu(tf.neg(t)))),
  gradFunc: (dy) => [dy],
}));

/** The value forward, no gradient backward (the method's "no gradient through s" for the dynamic scale). */
export const stopGradient = customGrad<[tf.Tensor]>(([x]) => ({ value: tf.clone(x), gradFunc: (dy) => [tf.zerosLike(dy)] }));
