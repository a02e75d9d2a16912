import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { EltParam, GateTail, type NativeKernels } from '@pg/native-kernels';
import { eltParams as params, heapOffset, registerKernelTable, required, sizeOf, wasmHeap, type KernelArgs } from '../../interpreter/native/index.js';

/**
 * The PG quantizer's and gate's element-wise passes as wasm-backend kernels backed by the addon (one pass each
 * instead of ~25 tfjs-wasm kernels per gated conv; see gating/fused-conv.ts). Registered as tfjs kernels under
 * pg's own names, so tfjs's engine tracks their tensors (tidy, dispose, profile).
 */
export const PG_QUANT_SPLIT = 'PgQuantSplit';
export const PG_QUANT_BACKWARD = 'PgQuantBackward';
export const PG_FAKE_QUANT = 'PgFakeQuant';
export const PG_FAKE_QUANT_BACKWARD = 'PgFakeQuantBackward';
export const PG_GATE_FORWARD = 'PgGateForward';
export const PG_GATE_BACKWARD = 'PgGateBackward';
export const PG_QUANTIZE_WEIGHTS = 'PgQuantizeWeights';

/** The PG kernels' tfjs configs for the wasm backend, calling into the addon `k`. */
// eslint-disable-next-line max-lines-per-function -- one short closure per kernel over the same addon handle, listed in one table.
export function pgNativeKernelConfigs(k: NativeKernels): tf.KernelConfig[] {
  const quantSplit = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [x, s] = required(args, 'x', 's');
    const { bits, hbits } = args.attrs as { bits: number; hbits: number };
    const [r, hb, lb] = [0, 1, 2].map(() => backend.makeOutput(x.shape, 'float32'));
    k.pgQuantSplit(
      wasmHeap(backend),
      heapOffset(backend, x),
      heapOffset(backend, s),
      heapOffset(backend, r),
      heapOffset(backend, hb),
      heapOffset(backend, lb),
      params({ [EltParam.Size]: sizeOf(x), [EltParam.Scales]: sizeOf(s), [EltParam.Bits]: bits, [EltParam.HBits]: hbits }),
    );
    return [r, hb, lb];
  };
  const quantBackward = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [g, r, hb, s] = required(args, 'g', 'r', 'hb', 's');
    const dx = backend.makeOutput(g.shape, 'float32');
    const ds = backend.makeOutput([], 'float32');
    k.pgQuantBackward(
      wasmHeap(backend),
      heapOffset(backend, g),
      heapOffset(backend, r),
      heapOffset(backend, hb),
      heapOffset(backend, s),
      heapOffset(backend, dx),
      heapOffset(backend, ds),
      params({ [EltParam.Size]: sizeOf(g), [EltParam.Scales]: sizeOf(s), [EltParam.Bits]: 1, [EltParam.WantSum]: 1 }),
    );
    return [dx, ds];
  };
  const fakeQuant = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [x, s] = required(args, 'x', 's');
    const { bits } = args.attrs as { bits: number };
    const [r, xq] = [0, 1].map(() => backend.makeOutput(x.shape, 'float32'));
    k.pgQuantSplit(
      wasmHeap(backend),
      heapOffset(backend, x),
      heapOffset(backend, s),
      heapOffset(backend, r),
      heapOffset(backend, xq),
      -1,
      params({ [EltParam.Size]: sizeOf(x), [EltParam.Scales]: sizeOf(s), [EltParam.Bits]: bits, [EltParam.HBits]: 0 }),
    );
    return [r, xq];
  };
  const fakeQuantBackward = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [dy, r, s] = required(args, 'dy', 'r', 's');
    const { bits } = args.attrs as { bits: number };
    const dx = backend.makeOutput(dy.shape, 'float32');
    const ds = backend.makeOutput(s.shape, 'float32');
    k.pgFakeQuantBackward(
      wasmHeap(backend),
      heapOffset(backend, dy),
      heapOffset(backend, r),
      heapOffset(backend, s),
      heapOffset(backend, dx),
      heapOffset(backend, ds),
      params({ [EltParam.Size]: sizeOf(dy), [EltParam.Scales]: sizeOf(s), [EltParam.Bits]: bits }),
    );
    return [dx, ds];
  };
  // Outputs y, z, the fraction ΣM/size and the counts [ΣM, size], then M when wantGate.
  const gateForward = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [ohb, olb, delta] = required(args, 'ohb', 'olb', 'delta');
    const { wantGate, tail } = args.attrs as { wantGate: boolean; tail: 'none' | 'relu' | 'add-relu' };
    const [y, z] = [0, 1].map(() => backend.makeOutput(ohb.shape, 'float32'));
    const fraction = backend.makeOutput([], 'float32');
    const counts = backend.makeOutput([2], 'float32');
    const m = wantGate ? backend.makeOutput(ohb.shape, 'float32') : undefined;
    k.pgGateForward(
      wasmHeap(backend),
      heapOffset(backend, ohb),
      heapOffset(backend, olb),
      heapOffset(backend, (args.inputs as Record<string, tf.TensorInfo | undefined>).offset),
      heapOffset(backend, delta),
      heapOffset(backend, y),
      heapOffset(backend, z),
      heapOffset(backend, m),
      heapOffset(backend, fraction),
      heapOffset(backend, counts),
      params({ [EltParam.Size]: sizeOf(ohb), [EltParam.Bits]: 1, [EltParam.Channels]: sizeOf(delta), [EltParam.Tail]: GATE_TAILS[tail] }),
    );
    return m ? [y, z, fraction, counts, m] : [y, z, fraction, counts];
  };
  const gateBackward = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const inputs = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const [dy, olb, z] = required(args, 'dy', 'olb', 'z');
    const { alpha, sparse, wantDz } = args.attrs as { alpha: number; sparse: boolean; wantDz: boolean };
    const c = dy.shape[dy.shape.length - 1];
    const [dohb, dolb] = [0, 1].map(() => backend.makeOutput(dy.shape, 'float32'));
    const dDelta = backend.makeOutput([c], 'float32');
    const dot = backend.makeOutput([], 'float32');
    const dz = wantDz ? backend.makeOutput(dy.shape, 'float32') : undefined; // a gate offset's gradient only
    k.pgGateBackward(
      wasmHeap(backend),
      heapOffset(backend, dy),
      heapOffset(backend, inputs.out),
      heapOffset(backend, olb),
      heapOffset(backend, z),
      heapOffset(backend, inputs.dGate),
      heapOffset(backend, inputs.dgUniform),
      heapOffset(backend, dohb),
      heapOffset(backend, dolb),
      heapOffset(backend, dz),
      heapOffset(backend, dDelta),
      heapOffset(backend, dot),
      params({ [EltParam.Size]: sizeOf(dy), [EltParam.Bits]: 1, [EltParam.Channels]: c, [EltParam.Sparse]: sparse ? 1 : 0, [EltParam.WantSum]: 1 }),
      alpha,
    );
    return dz ? [dohb, dolb, dDelta, dot, dz] : [dohb, dolb, dDelta, dot];
  };
  const quantizeWeights = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [w] = required(args, 'w');
    const { bits } = args.attrs as { bits: number };
    const wq = backend.makeOutput(w.shape, 'float32');
    k.pgQuantizeWeights(wasmHeap(backend), heapOffset(backend, w), heapOffset(backend, wq), params({ [EltParam.Size]: sizeOf(w), [EltParam.Bits]: bits }));
    return [wq];
  };
  const table: [string, (args: KernelArgs) => tf.TensorInfo[]][] = [
    [PG_QUANTIZE_WEIGHTS, quantizeWeights],
    [PG_QUANT_SPLIT, quantSplit],
    [PG_QUANT_BACKWARD, quantBackward],
    [PG_FAKE_QUANT, fakeQuant],
    [PG_FAKE_QUANT_BACKWARD, fakeQuantBackward],
    [PG_GATE_FORWARD, gateForward],
    [PG_GATE_BACKWARD, gateBackward],
  ];
  return table.map(([kernelName, f]) => ({ kernelName, backendName: 'wasm', kernelFunc: f as tf.KernelFunc }));
}

const GATE_TAILS = { none: GateTail.None, relu: GateTail.Relu, 'add-relu': GateTail.AddRelu } as const;

let registeredFor: NativeKernels | undefined;

/**
 * Registers the PG kernels for the addon `k` with the wasm backend, once: the wrappers (ops.ts) call this
 * before their first use, so the kernels exist whenever the addon is on, whatever was imported first.
 */
export function ensurePgNativeKernels(k: NativeKernels): void {
  if (registeredFor === k) return;
  registerKernelTable(pgNativeKernelConfigs(k));
  registeredFor = k;
}
