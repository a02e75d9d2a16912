import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { CONV_PARAM_COUNT, ConvParam, ELT_PARAM_COUNT, EltParam, type NativeKernels } from '@pg/native-kernels';
import { heapOffset, wasmHeap } from './wasm-heap.js';

/**
 * The PG quantizer's and gate's element-wise passes as wasm-backend kernels backed by the addon (one pass each
 * instead of ~25 tfjs-wasm kernels per gated conv; see pg/fused-conv.ts). Registered under pg's own kernel
 * names next to the native convolutions, so tfjs's engine tracks their tensors (tidy, dispose, profile).
 */
export const PG_QUANT_SPLIT = 'PgQuantSplit';
export const PG_QUANT_BACKWARD = 'PgQuantBackward';
export const PG_FAKE_QUANT = 'PgFakeQuant';
export const PG_FAKE_QUANT_BACKWARD = 'PgFakeQuantBackward';
export const PG_GATE_FORWARD = 'PgGateForward';
export const PG_GATE_BACKWARD = 'PgGateBackward';
export const PG_QUANTIZE_WEIGHTS = 'PgQuantizeWeights';
export const PG_MAX_POOL = 'PgMaxPool';
export const PG_MAX_POOL_BACKWARD = 'PgMaxPoolBackward';
const NAMES = [PG_QUANT_SPLIT, PG_QUANT_BACKWARD, PG_FAKE_QUANT, PG_FAKE_QUANT_BACKWARD, PG_GATE_FORWARD, PG_GATE_BACKWARD, PG_QUANTIZE_WEIGHTS, PG_MAX_POOL, PG_MAX_POOL_BACKWARD];

/** A max pool's geometry: kernel, strides and the leading pads ([top, left]); the output size is y's shape. */
export interface MaxPoolAttrs {
  kernel: [number, number];
  strides: [number, number];
  padBegin: [number, number];
}

type KernelArgs = Parameters<tf.KernelFunc>[0];
type Inputs = Record<string, tf.TensorInfo | undefined>;

function sizeOf(t: tf.TensorInfo): number {
  return t.shape.reduce((a, b) => a * b, 1);
}

function params(p: Partial<Record<EltParam, number>>): Int32Array {
  const a = new Int32Array(ELT_PARAM_COUNT);
  a[EltParam.Channels] = 1;
  a[EltParam.Scales] = 1;
  for (const [k, v] of Object.entries(p)) a[Number(k)] = v;
  return a;
}

function required(inputs: Inputs, ...names: string[]): tf.TensorInfo[] {
  return names.map((n) => {
    const t = inputs[n];
    if (!t) throw new Error(`pg native kernel: input '${n}' missing`);
    return t;
  });
}

// eslint-disable-next-line max-lines-per-function -- one table: each PG kernel's argument unpacking side by side, closing over the addon.
function kernels(k: NativeKernels): [string, tf.KernelFunc][] {
  const quantSplit = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [x, s] = required(args.inputs as Inputs, 'x', 's');
    const { bits, hbits } = args.attrs as { bits: number; hbits: number };
    const [r, hb, lb] = [0, 1, 2].map(() => backend.makeOutput(x.shape, 'float32'));
    k.pgQuantSplit(wasmHeap(backend), heapOffset(backend, x), heapOffset(backend, s), heapOffset(backend, r), heapOffset(backend, hb), heapOffset(backend, lb),
      params({ [EltParam.Size]: sizeOf(x), [EltParam.Scales]: sizeOf(s), [EltParam.Bits]: bits, [EltParam.HBits]: hbits }));
    return [r, hb, lb];
  };
  const quantBackward = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [g, r, hb, s] = required(args.inputs as Inputs, 'g', 'r', 'hb', 's');
    const dx = backend.makeOutput(g.shape, 'float32');
    const ds = backend.makeOutput([], 'float32');
    k.pgQuantBackward(wasmHeap(backend), heapOffset(backend, g), heapOffset(backend, r), heapOffset(backend, hb), heapOffset(backend, s), heapOffset(backend, dx), heapOffset(backend, ds),
      params({ [EltParam.Size]: sizeOf(g), [EltParam.Scales]: sizeOf(s), [EltParam.Bits]: 1, [EltParam.WantSum]: 1 }));
    return [dx, ds];
  };
  const fakeQuant = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [x, s] = required(args.inputs as Inputs, 'x', 's');
    const { bits } = args.attrs as { bits: number };
    const [r, xq] = [0, 1].map(() => backend.makeOutput(x.shape, 'float32'));
    k.pgQuantSplit(wasmHeap(backend), heapOffset(backend, x), heapOffset(backend, s), heapOffset(backend, r), heapOffset(backend, xq), -1,
      params({ [EltParam.Size]: sizeOf(x), [EltParam.Scales]: sizeOf(s), [EltParam.Bits]: bits, [EltParam.HBits]: 0 }));
    return [r, xq];
  };
  const fakeQuantBackward = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [dy, r, s] = required(args.inputs as Inputs, 'dy', 'r', 's');
    const { bits } = args.attrs as { bits: number };
    const dx = backend.makeOutput(dy.shape, 'float32');
    const ds = backend.makeOutput(s.shape, 'float32');
    k.pgFakeQuantBackward(wasmHeap(backend), heapOffset(backend, dy), heapOffset(backend, r), heapOffset(backend, s), heapOffset(backend, dx), heapOffset(backend, ds),
      params({ [EltParam.Size]: sizeOf(dy), [EltParam.Scales]: sizeOf(s), [EltParam.Bits]: bits }));
    return [dx, ds];
  };
  const gateForward = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [ohb, olb, delta] = required(args.inputs as Inputs, 'ohb', 'olb', 'delta');
    const [y, z, m] = [0, 1, 2].map(() => backend.makeOutput(ohb.shape, 'float32'));
    k.pgGateForward(wasmHeap(backend), heapOffset(backend, ohb), heapOffset(backend, olb), heapOffset(backend, delta), heapOffset(backend, y), heapOffset(backend, z), heapOffset(backend, m),
      params({ [EltParam.Size]: sizeOf(ohb), [EltParam.Bits]: 1, [EltParam.Channels]: sizeOf(delta) }));
    return [y, z, m];
  };
  const gateBackward = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const inputs = args.inputs as Inputs;
    const [dy, olb, z, m] = required(inputs, 'dy', 'olb', 'z', 'm');
    const { alpha, sparse } = args.attrs as { alpha: number; sparse: boolean };
    const c = dy.shape[dy.shape.length - 1];
    const [dohb, dolb] = [0, 1].map(() => backend.makeOutput(dy.shape, 'float32'));
    const dDelta = backend.makeOutput([c], 'float32');
    const dot = backend.makeOutput([], 'float32');
    k.pgGateBackward(wasmHeap(backend), heapOffset(backend, dy), heapOffset(backend, olb), heapOffset(backend, z), heapOffset(backend, m), heapOffset(backend, inputs.dGate),
      heapOffset(backend, dohb), heapOffset(backend, dolb), heapOffset(backend, dDelta), heapOffset(backend, dot),
      params({ [EltParam.Size]: sizeOf(dy), [EltParam.Bits]: 1, [EltParam.Channels]: c, [EltParam.Sparse]: sparse ? 1 : 0, [EltParam.WantSum]: 1 }), alpha);
    return [dohb, dolb, dDelta, dot];
  };
  const quantizeWeights = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [w] = required(args.inputs as Inputs, 'w');
    const { bits } = args.attrs as { bits: number };
    const wq = backend.makeOutput(w.shape, 'float32');
    k.pgQuantizeWeights(wasmHeap(backend), heapOffset(backend, w), heapOffset(backend, wq), params({ [EltParam.Size]: sizeOf(w), [EltParam.Bits]: bits }));
    return [wq];
  };
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
    const [x] = required(args.inputs as Inputs, 'x');
    const a = args.attrs as unknown as MaxPoolAttrs & { outH: number; outW: number };
    const shape = [x.shape[0], a.outH, a.outW, x.shape[3]];
    const y = backend.makeOutput(shape, 'float32');
    const arg = backend.makeOutput(shape, 'int32');
    k.pgMaxPool(wasmHeap(backend), heapOffset(backend, x), heapOffset(backend, y), heapOffset(backend, arg), poolParams(x, a.outH, a.outW, a));
    return [y, arg];
  };
  const maxPoolBackward = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [dy, arg, x] = required(args.inputs as Inputs, 'dy', 'arg', 'x');
    const a = args.attrs as unknown as MaxPoolAttrs;
    const dx = backend.makeOutput(x.shape, 'float32');
    k.pgMaxPoolBackward(wasmHeap(backend), heapOffset(backend, dy), heapOffset(backend, arg), heapOffset(backend, dx), poolParams(x, dy.shape[1], dy.shape[2], a));
    return [dx];
  };
  return [
    [PG_QUANTIZE_WEIGHTS, quantizeWeights as tf.KernelFunc],
    [PG_MAX_POOL, maxPool as tf.KernelFunc],
    [PG_MAX_POOL_BACKWARD, maxPoolBackward as tf.KernelFunc],
    [PG_QUANT_SPLIT, quantSplit as tf.KernelFunc],
    [PG_QUANT_BACKWARD, quantBackward as tf.KernelFunc],
    [PG_FAKE_QUANT, fakeQuant as tf.KernelFunc],
    [PG_FAKE_QUANT_BACKWARD, fakeQuantBackward as tf.KernelFunc],
    [PG_GATE_FORWARD, gateForward as tf.KernelFunc],
    [PG_GATE_BACKWARD, gateBackward as tf.KernelFunc],
  ];
}

export function registerNativePgKernels(k: NativeKernels): void {
  for (const [name, kernelFunc] of kernels(k)) {
    if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc });
  }
}

export function unregisterNativePgKernels(): void {
  for (const name of NAMES) if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
}
