import * as tf from '@tensorflow/tfjs-core';

/** A batch of samples (row-major floats with their shape) as an input tensor. */
export function tensorFromBatch(x: Float32Array, shape: number[]): tf.Tensor {
  return tf.tensor(x, shape, 'float32');
}
