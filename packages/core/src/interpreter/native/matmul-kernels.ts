import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeKernels } from '@pg/native-kernels';
import { customGrad } from '../custom-grad.js';
import { nativeKernelOn, required, type KernelArgs } from './kernel-table.js';
import { heapOffset, wasmHeap } from './wasm-heap.js';

/**
 * Batched matrix products on oneDNN's sgemm, one per matrix, with either operand read transposed in place: the
 * attention's many small products (Q·Kᵀ and A·V per head) and their gradients dY·Bᵀ and Aᵀ·dY need no
 * transposed copies (tfjs-wasm's BatchMatMul runs transposed operands far slower than plain ones).
 */
export const PG_BATCH_MATMUL = 'PgBatchMatMul';
export const MATMUL_KERNEL_NAMES = [PG_BATCH_MATMUL];

interface Trans {
  transA: boolean;
  transB: boolean;
}

export function matMulKernelConfigs(k: NativeKernels): tf.KernelConfig[] {
  const batchMatMul = (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as BackendWasm;
    const [a, b] = required(args, 'a', 'b');
    const { transA, transB } = args.attrs as unknown as Trans;
    const r = a.shape.length;
    const [ar, ac] = a.shape.slice(-2);
    const [br, bc] = b.shape.slice(-2);
    const [m, kk, n] = [transA ? ac : ar, transA ? ar : ac, transB ? br : bc];
    const batch = a.shape.slice(0, -2).reduce((p, d) => p * d, 1);
    const c = backend.makeOutput([...a.shape.slice(0, r - 2), m, n], 'float32');
    k.batchMatMul(wasmHeap(backend), heapOffset(backend, a), heapOffset(backend, b), heapOffset(backend, c), batch, m, kk, n, transA ? 1 : 0, transB ? 1 : 0);
    return c;
  };
  return [{ kernelName: PG_BATCH_MATMUL, backendName: 'wasm', kernelFunc: batchMatMul as tf.KernelFunc }];
}

function product(a: tf.Tensor, b: tf.Tensor, transA: boolean, transB: boolean): tf.Tensor {
  return tf.engine().runKernel(PG_BATCH_MATMUL, { a, b }, { transA, transB } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/**
 * a [..., M, K] · b [..., K, N] (the same batch dims, rank 3 or more, float32) with its gradients dY·bᵀ and
 * aᵀ·dY, on oneDNN; undefined when the native kernels are off or the shapes do not match so.
 */
export function nativeBatchMatMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor | undefined {
  if (!nativeKernelOn(PG_BATCH_MATMUL, a, b) || a.rank < 3 || a.rank !== b.rank || a.size === 0 || b.size === 0) return undefined;
  if (!tf.util.arraysEqual(a.shape.slice(0, -2), b.shape.slice(0, -2)) || a.shape[a.rank - 1] !== b.shape[b.rank - 2]) return undefined;
  const op = customGrad<[tf.Tensor, tf.Tensor]>(([ai, bi], save) => {
    save([ai, bi]);
    return { value: product(ai, bi, false, false), gradFunc: (dy, [sa, sb]) => [product(dy, sb, false, true), product(sa, dy, true, false)] };
  });
  return op(a, b);
}
