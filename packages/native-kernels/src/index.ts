import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The convolution's parameters, packed in this order into an Int32Array (see ConvParam). Activations are
 * NHWC; filters [kh, kw, cin / groups, cout] (tfjs HWIO; depthwise [kh, kw, c, multiplier] is groups == c) or,
 * with WeightLayout Oihw, ONNX's [cout, cin / groups, kh, kw].
 */
export enum ConvParam {
  N, H, W, Cin, OutH, OutW, Cout, KernelH, KernelW, Groups,
  StrideH, StrideW, DilationH, DilationW, PadTop, PadBottom, PadLeft, PadRight, Activation, HasBias, WeightLayout,
}
export const CONV_PARAM_COUNT = 21;

export enum ConvWeightLayout { Hwio = 0, Oihw = 1 }

/** Activations the forward convolution fuses (oneDNN post-ops). */
export enum ConvActivation { Linear = 0, Relu = 1, Relu6 = 2 }

/**
 * The addon's functions. `heap` is a Uint8Array over the wasm Memory (re-read after any allocation: memory can
 * grow); offsets are byte offsets into it, -1 for an absent bias. Everything runs synchronously.
 */
export interface NativeKernels {
  convForward(heap: Uint8Array, x: number, w: number, bias: number, y: number, params: Int32Array): void;
  convBackwardData(heap: Uint8Array, dy: number, w: number, dx: number, params: Int32Array): void;
  /** Writes dL/dW (and dL/dbias when bias >= 0) over the whole of their buffers. */
  convBackwardWeights(heap: Uint8Array, x: number, dy: number, dw: number, dbias: number, params: Int32Array): void;
  /** The OpenMP team size of the calling JS thread's convolutions (each worker thread has its own). */
  setThreads(n: number): void;
  getThreads(): number;
}

export type NativeLoad = { ok: true; kernels: NativeKernels } | { ok: false; reason: string };

let cached: NativeLoad | undefined;

/** The built addon (build/pg_native.node), or why it is not there. Loaded once per thread. */
export function loadNativeKernels(): NativeLoad {
  if (cached) return cached;
  const path = join(dirname(fileURLToPath(import.meta.url)), '..', 'build', 'pg_native.node');
  // OpenMP threads that spin while waiting (GNU's default) stall whenever a core is shared: measured 2-4x
  // slower MobileNetV2 runs on a loaded 2-core machine. Sleeping waits cost microseconds per convolution.
  // libgomp reads this once, when the addon loads it; a value the user set wins.
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  try {
    const require = createRequire(import.meta.url);
    cached = { ok: true, kernels: require(path) as NativeKernels };
  } catch (e) {
    cached = { ok: false, reason: (e as Error).message.split('\n')[0] };
  }
  return cached;
}
