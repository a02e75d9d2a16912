import * as tf from '@tensorflow/tfjs-core';
import { customGrad } from '../custom-grad.js';

/**
 * a · b (2-D) whose backward multiplies without transposed operands: tfjs-wasm's MatMul with transposeA or
 * transposeB runs far slower than a plain one, and autodiff's gradients of a · b are dy · bᵀ and aᵀ · dy. Here
 * dy · bᵀ uses `bT` (bᵀ, which the caller keeps: a weight's transpose is made once per step, not per product)
 * and aᵀ · dy transposes a explicitly first. `bT` gets no gradient of its own: b's is complete.
 */
export const matMulTrainable: (a: tf.Tensor2D, b: tf.Tensor2D, bT: tf.Tensor2D) => tf.Tensor2D = customGrad<[tf.Tensor2D, tf.Tensor2D, tf.Tensor2D]>(([a, b, bT], save) => {
  save([a, bT]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy, [as, bts]) => [tf.matMul(dy as tf.Tensor2D, bts as tf.Tensor2D), tf.matMul(tf.transpose(as) as tf.Tensor2D, dy as tf.Tensor2D), tf.zerosLike(bts)],
  };
}) as (a: tf.Tensor2D, b: tf.Tensor2D, bT: tf.Tensor2D) => tf.Tensor2D;
