import * as tf from '@tensorflow/tfjs-core';

/**
 * Σ over all but the last axis (e.g. a bias gradient from an NHWC gradient), shaped like `like`. As a
 * product with a row of ones: tfjs-wasm reduces over leading axes by transposing the whole tensor first,
 * far slower than this matmul (docs/architecture.md).
 */
export function channelSum(t: tf.Tensor, like: tf.Tensor): tf.Tensor {
  const c = t.shape[t.rank - 1];
  const rows = t.size / c;
  return tf.reshape(tf.matMul(tf.ones([1, rows]), tf.reshape(t, [rows, c])), like.shape);
}
