import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { CONV_PARAM_COUNT, ConvActivation, ConvParam, ConvWeightLayout, loadNativeKernels, type NativeKernels } from '@pg/native-kernels';
import { heapOffset, wasmHeap } from './wasm-heap.js';

/**
 * oneDNN convolutions on tensors of tfjs's wasm backend, in place in the wasm heap (see
 * packages/native-kernels). Active only after enableNativeConv() (initBackend('wasm') calls it when the
 * addon is built and PG_NATIVE is not 0).
 */
let active: NativeKernels | undefined;

export function activeNativeKernels(): NativeKernels | undefined {
  return active;
}

export function setActiveNativeKernels(k: NativeKernels | undefined): void {
  active = k;
}

/** Why the addon is off, or undefined when it loads. */
export function nativeUnavailableReason(): string | undefined {
  if (process.env.PG_NATIVE === '0') return 'PG_NATIVE=0';
  const load = loadNativeKernels();
  return load.ok ? undefined : load.reason;
}

/** One convolution's shape: NHWC activations, explicit pads, filter [kh, kw, cin / groups, cout] (or ONNX's [cout, cin / groups, kh, kw] with weightLayout 'oihw'). */
export interface NativeConvShape {
  n: number;
  h: number;
  w: number;
  cin: number;
  outH: number;
  outW: number;
  cout: number;
  kh: number;
  kw: number;
  groups: number;
  strides: [number, number];
  dilations: [number, number];
  /** [top, bottom, left, right] */
  pads: [number, number, number, number];
  weightLayout?: 'hwio' | 'oihw';
}

export type NativeActivation = 'linear' | 'relu' | 'relu6';

const ACTIVATIONS: Record<NativeActivation, ConvActivation> = { linear: ConvActivation.Linear, relu: ConvActivation.Relu, relu6: ConvActivation.Relu6 };

/** The shape oneDNN accepts: positive sizes and output sizes that follow from the pads (floor rounding). */
export function nativeShapeSupported(s: NativeConvShape): boolean {
  const dims = [s.n, s.h, s.w, s.cin, s.outH, s.outW, s.cout, s.kh, s.kw, s.groups, ...s.strides, ...s.dilations];
  if (dims.some((d) => !Number.isInteger(d) || d < 1) || s.pads.some((p) => !Number.isInteger(p) || p < 0)) return false;
  if (s.cin % s.groups !== 0 || s.cout % s.groups !== 0) return false;
  const out = (size: number, k: number, d: number, st: number, a: number, b: number): number => Math.floor((size + a + b - ((k - 1) * d + 1)) / st) + 1;
  return out(s.h, s.kh, s.dilations[0], s.strides[0], s.pads[0], s.pads[1]) === s.outH && out(s.w, s.kw, s.dilations[1], s.strides[1], s.pads[2], s.pads[3]) === s.outW;
}

function params(s: NativeConvShape, activation: NativeActivation, hasBias: boolean): Int32Array {
  const p = new Int32Array(CONV_PARAM_COUNT);
  p[ConvParam.N] = s.n;
  p[ConvParam.H] = s.h;
  p[ConvParam.W] = s.w;
  p[ConvParam.Cin] = s.cin;
  p[ConvParam.OutH] = s.outH;
  p[ConvParam.OutW] = s.outW;
  p[ConvParam.Cout] = s.cout;
  p[ConvParam.KernelH] = s.kh;
  p[ConvParam.KernelW] = s.kw;
  p[ConvParam.Groups] = s.groups;
  p[ConvParam.StrideH] = s.strides[0];
  p[ConvParam.StrideW] = s.strides[1];
  p[ConvParam.DilationH] = s.dilations[0];
  p[ConvParam.DilationW] = s.dilations[1];
  p[ConvParam.PadTop] = s.pads[0];
  p[ConvParam.PadBottom] = s.pads[1];
  p[ConvParam.PadLeft] = s.pads[2];
  p[ConvParam.PadRight] = s.pads[3];
  p[ConvParam.Activation] = ACTIVATIONS[activation];
  p[ConvParam.HasBias] = hasBias ? 1 : 0;
  p[ConvParam.WeightLayout] = s.weightLayout === 'oihw' ? ConvWeightLayout.Oihw : ConvWeightLayout.Hwio;
  return p;
}

/** oneDNN's implementation of the convolution `s` for one pass, e.g. "brgconv:avx512_core" ("ref:..." is a slow loop). */
export function nativeConvImplementation(k: NativeKernels, s: NativeConvShape, pass: 'forward' | 'backward-data' | 'backward-weights'): string {
  const kind = pass === 'forward' ? 0 : pass === 'backward-data' ? 1 : 2;
  return k.convImplementation(kind, params(s, 'linear', pass !== 'backward-data'));
}

export function nativeConvForward(
  k: NativeKernels,
  backend: BackendWasm,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  bias: tf.TensorInfo | undefined,
  s: NativeConvShape,
  activation: NativeActivation,
): tf.TensorInfo {
  const out = backend.makeOutput([s.n, s.outH, s.outW, s.cout], 'float32');
  k.convForward(
    wasmHeap(backend),
    heapOffset(backend, x),
    heapOffset(backend, filter),
    heapOffset(backend, bias),
    heapOffset(backend, out),
    params(s, activation, bias !== undefined),
  );
  return out;
}

export function nativeConvBackwardData(k: NativeKernels, backend: BackendWasm, dy: tf.TensorInfo, filter: tf.TensorInfo, s: NativeConvShape): tf.TensorInfo {
  const out = backend.makeOutput([s.n, s.h, s.w, s.cin], 'float32');
  k.convBackwardData(wasmHeap(backend), heapOffset(backend, dy), heapOffset(backend, filter), heapOffset(backend, out), params(s, 'linear', false));
  return out;
}

/** dL/dW in the filter's layout ([kh, kw, cin / groups, cout] or ONNX's), and dL/dbias ([cout]) when asked. */
export function nativeConvBackwardWeights(
  k: NativeKernels,
  backend: BackendWasm,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  s: NativeConvShape,
  withBias: boolean,
): { dw: tf.TensorInfo; db?: tf.TensorInfo } {
  const dw = backend.makeOutput(s.weightLayout === 'oihw' ? [s.cout, s.cin / s.groups, s.kh, s.kw] : [s.kh, s.kw, s.cin / s.groups, s.cout], 'float32');
  const db = withBias ? backend.makeOutput([s.cout], 'float32') : undefined;
  k.convBackwardWeights(wasmHeap(backend), heapOffset(backend, x), heapOffset(backend, dy), heapOffset(backend, dw), heapOffset(backend, db), params(s, 'linear', withBias));
  return { dw, db };
}
