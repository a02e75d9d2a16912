import * as tf from '@tensorflow/tfjs-core';
import { customGrad } from '../runtime/custom-grad.js';

/** Round half to even forward, identity backward (straight-through estimator). */
export const steRound = customGrad<[tf.Tensor]>(([x]) => ({ value: tf.round(x), gradFunc: (dy) => [dy] }));

/**
 * Truncation toward zero forward, identity backward. Built as floor(relu(t)) - floor(relu(-t)) because
 * tfjs's wasm kernels for relu/floor/neg are fast and those for sign/mod are ~20x slower.
 */
export const steTrunc = customGrad<[tf.Tensor]>(([t]) => ({
  value: tf.sub(tf.floor(tf.relu(t)), tf.floor(tf.relu(tf.neg(t)))),
  gradFunc: (dy) => [dy],
}));

/** The value forward, no gradient backward (the method's "no gradient through s" for the dynamic scale). */
export const stopGradient = customGrad<[tf.Tensor]>(([x]) => ({ value: tf.clone(x), gradFunc: (dy) => [tf.zerosLike(dy)] }));
