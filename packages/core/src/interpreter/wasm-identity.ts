import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * tfjs-wasm's Identity (tf.clone) copies the data. tfjs calls it for every input and output a kernel saves
 * for the backward pass, thousands of copies per training step of a transformer; tensors are immutable, so
 * a clone may share the data, as tfjs's cpu backend and wasm's own Reshape do (reference counted). pg writes
 * into a tensor's memory only where it checks it owns it alone (the native Adam step).
 */
function identity({ inputs, backend }: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm }): tf.TensorInfo {
  const x = inputs.x!;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Installs the sharing Identity on the wasm backend (once; string tensors are not pg's). */
export function shareWasmClones(): void {
  if (tf.getKernel(tf.Identity, 'wasm')) tf.unregisterKernel(tf.Identity, 'wasm');
  tf.registerKernel({ kernelName: tf.Identity, backendName: 'wasm', kernelFunc: identity as unknown as tf.KernelFunc });
}
