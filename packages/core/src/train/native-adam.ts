import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { activeNativeKernels, heapOffset, wasmHeap } from '../interpreter/native/index.js';
import { adamMoments, adamStepScalars, advanceAdam, ensureAdamMoments } from './tfjs-adam.js';

export interface VariableGradient {
  variable: tf.Variable;
  /** dL/d variable, as many floats as the variable has (e.g. a view into the data-parallel sum). */
  grad: Float32Array;
}

/**
 * `opt.applyGradients` for `grads` (in that order, the order tfjs's path gives them in) with the native
 * addon: one pass per variable on every core, in place, bit-identical to tfjs's Adam (the addon repeats its
 * float32 operations in order), and the optimizer's own moments, β powers and iteration count updated, so
 * checkpoints (getWeights) and a later tfjs step see the same state (through tfjs-adam.ts, the one file that
 * knows where tfjs keeps it). Why: tfjs runs a dozen kernels per variable on the main thread while the training
 * workers wait (a large part of a ResNet-18 step with its 11.7M weights: docs/native-kernels.md). Returns false, having changed nothing, where it does not apply (addon off, not the wasm backend, a
 * tensor not float32, or a variable's memory shared with another tensor): the caller runs applyGradients.
 */
export function nativeAdamStep(opt: tf.AdamOptimizer, grads: VariableGradient[]): boolean {
  const native = activeNativeKernels();
  if (!native || tf.getBackend() !== 'wasm') return false;
  const backend = tf.backend() as BackendWasm;
  // Written in place: only float32 tensors that own their memory alone (a reshape of one, or the tensor a
  // variable was made from while it lives, shares it). Checked before anything changes.
  const owned = (t: tf.Tensor | undefined) => t === undefined || (t.dtype === 'float32' && backend.refCount(t.dataId) === 1);
  const fits = grads.every(({ variable, grad }, i) => {
    const { m, v } = adamMoments(opt, i);
    return grad.length === variable.size && owned(variable) && owned(m) && owned(v);
  });
  if (!fits) return false;
  const states = grads.map(({ variable, grad }, i) => ({ x: variable, ...ensureAdamMoments(opt, i, variable), grad }));
  const scalars = adamStepScalars(opt);
  const at = (t: tf.Tensor) => heapOffset(backend, t);
  for (const s of states) native.adamUpdate(wasmHeap(backend), at(s.x), at(s.m), at(s.v), s.grad, scalars);
  advanceAdam(opt);
  return true;
}
