import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeKernels } from '@pg/native-kernels';
import { customGrad } from '../custom-grad.js';
import { nativeKernelOn, required, sizeOf, type KernelArgs } from './kernel-table.js';
import { heapOffset, wasmHeap } from './wasm-heap.js';

/**
 * GELU x·Φ(x) (Φ(x) = 0.5·(1 + erf(x/√2))) and its derivative Φ(x) + x·φ(x) in one pass, a wasm-backend kernel
 * backed by the addon: composed from tfjs-wasm ops the pair is five passes forward and a dozen backward (Erf and
 * Exp among them) over the feed-forward layer's widest activation; here the backward is one multiply.
 */
export const PG_GELU = 'PgGelu';
export const GELU_KERNEL_NAMES = [PG_GELU];

export function geluKernelConfigs(k: NativeKernels): tf.KernelConfig[] {
  const gelu = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [x] = required(args, 'x');
    const y = backend.makeOutput(x.shape, 'float32');
    const slope = backend.makeOutput(x.shape, 'float32');
    k.pgGelu(wasmHeap(backend), heapOffset(backend, x), heapOffset(backend, y), heapOffset(backend, slope), sizeOf(x));
    return [y, slope];
  };
  return [{ kernelName: PG_GELU, backendName: 'wasm', kernelFunc: gelu as tf.KernelFunc }];
}

/**
 * GELU of float32 x with its gradient dy·(Φ(x) + x·φ(x)), the derivative coming from the forward's pass, or
 * undefined when the native kernels are off. erf is Abramowitz & Stegun's 7.1.26, the formula of tfjs's Erf, so
 * values agree with the composed ops within float rounding (a few 1e-7 relative), not bit for bit: pg uses it
 * while training only, where inference's exact agreement with the ONNX function bodies does not apply.
 */
export function nativeGelu(x: tf.Tensor): tf.Tensor | undefined {
  if (!nativeKernelOn(PG_GELU, x) || x.size === 0) return undefined;
  const op = customGrad<[tf.Tensor]>(([xi], save) => {
    const [y, slope] = tf.engine().runKernel(PG_GELU, { x: xi }) as tf.Tensor[];
    save([slope]);
    return { value: y, gradFunc: (dy, [s]) => [tf.mul(dy, s)] };
  });
  return op(x);
}
