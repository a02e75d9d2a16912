import * as tf from '@tensorflow/tfjs-core';
import { ELT_PARAM_COUNT, EltParam } from '@pg/native-kernels';
import { activeNativeKernels } from './native-conv.js';

// What the addon-backed tfjs kernels share: their argument types, reading their inputs, the element-wise
// kernels' parameter block, and registering a table of them with the wasm backend.

export type KernelArgs = Parameters<tf.KernelFunc>[0];
type Inputs = Record<string, tf.TensorInfo | undefined>;

export function sizeOf(t: tf.TensorInfo): number {
  return t.shape.reduce((a, b) => a * b, 1);
}

/** The named inputs of a kernel call, each required. */
export function required(args: KernelArgs, ...names: string[]): tf.TensorInfo[] {
  const inputs = args.inputs as Inputs;
  return names.map((n) => {
    const t = inputs[n];
    if (!t) throw new Error(`pg native kernel: input '${n}' missing`);
    return t;
  });
}

/** An element-wise kernel's parameter block (one channel and one scale unless given). */
export function eltParams(p: Partial<Record<EltParam, number>>): Int32Array {
  const a = new Int32Array(ELT_PARAM_COUNT);
  a[EltParam.Channels] = 1;
  a[EltParam.Scales] = 1;
  for (const [k, v] of Object.entries(p)) a[Number(k)] = v;
  return a;
}

/** Registers tfjs kernel configs with the wasm backend, replacing any registered under the same names. */
export function registerKernelTable(configs: readonly tf.KernelConfig[]): void {
  for (const c of configs) {
    if (tf.getKernel(c.kernelName, 'wasm')) tf.unregisterKernel(c.kernelName, 'wasm');
    tf.registerKernel(c);
  }
}

export function unregisterKernelTable(names: readonly string[]): void {
  for (const name of names) if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
}

/**
 * Whether an addon-backed kernel can run these tensors now: the addon is on, the backend is wasm, the
 * kernel `name` is registered and every tensor given is float32.
 */
export function nativeKernelOn(name: string, ...ts: (tf.Tensor | undefined)[]): boolean {
  return activeNativeKernels() !== undefined && tf.getBackend() === 'wasm' && tf.getKernel(name, 'wasm') !== undefined && ts.every((t) => t === undefined || t.dtype === 'float32');
}
