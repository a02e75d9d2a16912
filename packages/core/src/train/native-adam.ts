import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { activeNativeKernels, heapOffset, wasmHeap } from '../runtime/native/index.js';

/** The state tfjs's AdamOptimizer keeps in fields its typings mark protected or private (tfjs-core 4.x). */
interface AdamInternals {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  accumulatedSecondMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  incrementIterations(): void;
}

export interface VariableGradient {
  variable: tf.Variable;
  /** dL/d variable, as many floats as the variable has (e.g. a view into the data-parallel sum). */
  grad: Float32Array;
}

/**
 * `opt.applyGradients` for `grads` (in that order, the order tfjs's path gives them in) with the native
 * addon: one pass per variable on every core, in place, bit-identical to tfjs's Adam (the addon repeats its
 * float32 operations in order), and the optimizer's own moments, β powers and iteration count updated, so
 * checkpoints (getWeights) and a later tfjs step see the same state. Why: tfjs runs a dozen kernels per
 * variable on the main thread while the training workers wait (docs/native-kernels.md). Returns false, having changed nothing, where it does not apply (addon off, not the wasm backend, a
 * tensor not float32, or a variable's memory shared with another tensor): the caller runs applyGradients.
 */
export function nativeAdamStep(opt: tf.AdamOptimizer, grads: VariableGradient[]): boolean {
  const native = activeNativeKernels();
  if (!native || tf.getBackend() !== 'wasm') return false;
  const backend = tf.backend() as BackendWasm;
  const a = opt as unknown as AdamInternals;
  // Written in place: only float32 tensors that own their memory alone (a reshape of one, or the tensor a
  // variable was made from while it lives, shares it). Checked before anything changes.
  const owned = (t: tf.Tensor | undefined) => t === undefined || (t.dtype === 'float32' && backend.refCount(t.dataId) === 1);
  const fits = grads.every(({ variable, grad }, i) =>
    grad.length === variable.size && owned(variable) && owned(a.accumulatedFirstMoment[i]?.variable) && owned(a.accumulatedSecondMoment[i]?.variable));
  if (!fits) return false;
  // tfjs creates the moments on first use, as zeros named `${name}/m` and `/v`.
  const moment = (list: AdamInternals['accumulatedFirstMoment'], i: number, v: tf.Variable, suffix: string) =>
    (list[i] ??= { originalName: `${v.name}/${suffix}`, variable: tf.tidy(() => tf.zerosLike(v).variable(false)) }).variable;
  const states = grads.map(({ variable, grad }, i) => ({ x: variable, m: moment(a.accumulatedFirstMoment, i, variable, 'm'), v: moment(a.accumulatedSecondMoment, i, variable, 'v'), grad }));
  const [acc1] = a.accBeta1.dataSync();
  const [acc2] = a.accBeta2.dataSync();
  // The scalars tfjs makes of these numbers are their float32 roundings; 1 - β^t is a float32 subtraction.
  const scalars = Float32Array.of(a.beta1, 1 - a.beta1, a.beta2, 1 - a.beta2, Math.fround(1 - acc1), Math.fround(1 - acc2), a.epsilon, -a.learningRate);
  const at = (t: tf.Tensor) => heapOffset(backend, t);
  for (const s of states) native.adamUpdate(wasmHeap(backend), at(s.x), at(s.m), at(s.v), s.grad, scalars);
  tf.tidy(() => {
    a.accBeta1.assign(tf.mul(a.accBeta1, a.beta1));
    a.accBeta2.assign(tf.mul(a.accBeta2, a.beta2));
  });
  a.incrementIterations();
  return true;
}
