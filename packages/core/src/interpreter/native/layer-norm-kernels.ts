import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeKernels } from '@pg/native-kernels';
import { customGrad } from '../custom-grad.js';
import { nativeKernelOn, required, sizeOf, type KernelArgs } from './kernel-table.js';
import { heapOffset, wasmHeap } from './wasm-heap.js';

/**
 * LayerNorm over the last axis and its gradient as one pass each, wasm-backend kernels backed by the addon:
 * composed from tfjs-wasm ops the pair is about twenty kernels (means, sums, broadcasts), and a transformer has
 * two LayerNorms a block.
 */
export const PG_LAYER_NORM = 'PgLayerNorm';
export const PG_LAYER_NORM_BACKWARD = 'PgLayerNormBackward';
export const LAYER_NORM_KERNEL_NAMES = [PG_LAYER_NORM, PG_LAYER_NORM_BACKWARD];

export function layerNormKernelConfigs(k: NativeKernels): tf.KernelConfig[] {
  const layerNorm = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [x, gamma, beta] = required(args, 'x', 'gamma', 'beta');
    const c = x.shape[x.shape.length - 1];
    const rows = sizeOf(x) / c;
    const y = backend.makeOutput(x.shape, 'float32');
    const xhat = backend.makeOutput(x.shape, 'float32');
    const r = backend.makeOutput([rows], 'float32');
    const o = (t: tf.TensorInfo) => heapOffset(backend, t);
    k.pgLayerNorm(wasmHeap(backend), o(x), o(gamma), o(beta), o(y), o(xhat), o(r), rows, c, (args.attrs as { epsilon: number }).epsilon);
    return [y, xhat, r];
  };
  const layerNormBackward = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [dy, xhat, r, gamma] = required(args, 'dy', 'xhat', 'r', 'gamma');
    const c = xhat.shape[xhat.shape.length - 1];
    const dx = backend.makeOutput(xhat.shape, 'float32');
    const dgamma = backend.makeOutput([c], 'float32');
    const dbeta = backend.makeOutput([c], 'float32');
    const o = (t: tf.TensorInfo) => heapOffset(backend, t);
    k.pgLayerNormBackward(wasmHeap(backend), o(dy), o(xhat), o(r), o(gamma), o(dx), o(dgamma), o(dbeta), sizeOf(xhat) / c, c);
    return [dx, dgamma, dbeta];
  };
  return [
    { kernelName: PG_LAYER_NORM, backendName: 'wasm', kernelFunc: layerNorm as tf.KernelFunc },
    { kernelName: PG_LAYER_NORM_BACKWARD, backendName: 'wasm', kernelFunc: layerNormBackward as tf.KernelFunc },
  ];
}

/**
 * y = (x − μ)·r·γ + β over x's last axis (γ and β of that axis' size, any leading 1s), r = 1/√(σ² + ε), with
 * its gradients, one native pass each way; statistics in double, so within float rounding of the composed ops
 * (normalization.ts), not bit for bit. Undefined when the native kernels are off or for other shapes.
 */
export function nativeLayerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor | undefined {
  const c = x.shape[x.rank - 1];
  const perChannel = (t: tf.Tensor) => t.size === c && t.shape[t.rank - 1] === c && t.rank <= x.rank;
  if (!nativeKernelOn(PG_LAYER_NORM, x, gamma, beta) || x.rank < 1 || x.size === 0 || !perChannel(gamma) || !perChannel(beta)) return undefined;
  const op = customGrad<[tf.Tensor, tf.Tensor, tf.Tensor]>(([xi, g, b], save) => {
    const [y, xhat, r] = tf.engine().runKernel(PG_LAYER_NORM, { x: xi, gamma: g, beta: b }, { epsilon }) as tf.Tensor[];
    save([xhat, r, g]);
    return {
      value: y,
      gradFunc: (dy, [xh, rs, gs]) => {
        const [dx, dg, db] = tf.engine().runKernel(PG_LAYER_NORM_BACKWARD, { dy, xhat: xh, r: rs, gamma: gs }) as tf.Tensor[];
        return [dx, tf.reshape(dg, gamma.shape), tf.reshape(db, beta.shape)];
      },
    };
  });
  return op(x, gamma, beta);
}
