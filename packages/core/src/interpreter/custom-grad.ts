import * as tf from '@tensorflow/tfjs-core';

export interface CustomGradResult {
  value: tf.Tensor;
  /** Gradients for each input, in order, each of its input's shape. */
  gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
}

/**
 * Typed front for tf.customGrad, whose own typing merges the inputs with the save callback.
 * Straight-through estimators, the gate's surrogate gradient and the wasm conv filter gradient use it.
 */
export function customGrad<T extends tf.Tensor[]>(fn: (inputs: T, save: tf.GradSaveFunc) => CustomGradResult): (...inputs: T) => tf.Tensor {
  const wrapped = (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const r = fn(args.slice(0, -1) as T, save);
    return { value: r.value, gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => r.gradFunc(Array.isArray(dy) ? dy[0] : dy, saved) };
  };
  const op = tf.customGrad(wrapped as unknown as Parameters<typeof tf.customGrad>[0]);
  return (...inputs: T) => op(...inputs);
}
