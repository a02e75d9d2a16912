import type * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { CONV_PARAM_COUNT, ConvParam, type NativeKernels } from '@pg/native-kernels';
import { required, type KernelArgs } from './kernel-table.js';
import { heapOffset, wasmHeap } from './wasm-heap.js';

/**
 * Max pooling that records each window's winner, and its gradient as one scatter from them (interpreter/ops/pool.ts
 * uses it while training), as wasm-backend kernels backed by the addon.
 */
export const PG_MAX_POOL = 'PgMaxPool';
export const PG_MAX_POOL_BACKWARD = 'PgMaxPoolBackward';
export const POOL_KERNEL_NAMES = [PG_MAX_POOL, PG_MAX_POOL_BACKWARD];

/** A max pool's geometry: kernel, strides and the leading pads ([top, left]); the output size is y's shape. */
export interface MaxPoolAttrs {
  kernel: [number, number];
  strides: [number, number];
  padBegin: [number, number];
}

export function poolKernelConfigs(k: NativeKernels): tf.KernelConfig[] {
  const poolParams = (x: tf.TensorInfo, outH: number, outW: number, a: MaxPoolAttrs): Int32Array => {
    const p = new Int32Array(CONV_PARAM_COUNT);
    const [n, h, w, c] = x.shape;
    p[ConvParam.N] = n;
    p[ConvParam.H] = h;
    p[ConvParam.W] = w;
    p[ConvParam.Cin] = c;
    p[ConvParam.Cout] = c;
    p[ConvParam.OutH] = outH;
    p[ConvParam.OutW] = outW;
    [p[ConvParam.KernelH], p[ConvParam.KernelW]] = a.kernel;
    [p[ConvParam.StrideH], p[ConvParam.StrideW]] = a.strides;
    [p[ConvParam.PadTop], p[ConvParam.PadLeft]] = a.padBegin;
    p[ConvParam.Groups] = 1;
    p[ConvParam.DilationH] = 1;
    p[ConvParam.DilationW] = 1;
    return p;
  };
  const maxPool = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [x] = required(args, 'x');
    const a = args.attrs as unknown as MaxPoolAttrs & { outH: number; outW: number };
    const shape = [x.shape[0], a.outH, a.outW, x.shape[3]];
    const y = backend.makeOutput(shape, 'float32');
    const arg = backend.makeOutput(shape, 'int32');
    k.pgMaxPool(wasmHeap(backend), heapOffset(backend, x), heapOffset(backend, y), heapOffset(backend, arg), poolParams(x, a.outH, a.outW, a));
    return [y, arg];
  };
  const maxPoolBackward = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [dy, arg, x] = required(args, 'dy', 'arg', 'x');
    const a = args.attrs as unknown as MaxPoolAttrs;
    const dx = backend.makeOutput(x.shape, 'float32');
    k.pgMaxPoolBackward(wasmHeap(backend), heapOffset(backend, dy), heapOffset(backend, arg), heapOffset(backend, dx), poolParams(x, dy.shape[1], dy.shape[2], a));
    return [dx];
  };
  return [
    { kernelName: PG_MAX_POOL, backendName: 'wasm', kernelFunc: maxPool as tf.KernelFunc },
    { kernelName: PG_MAX_POOL_BACKWARD, backendName: 'wasm', kernelFunc: maxPoolBackward as tf.KernelFunc },
  ];
}
