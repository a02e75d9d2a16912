import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The convolution's parameters, packed in this order into an Int32Array (see ConvParam). Activations are
 * NHWC; filters [kh, kw, cin / groups, cout] (tfjs HWIO; depthwise [kh, kw, c, multiplier] is groups == c) or,
 * with WeightLayout Oihw, ONNX's [cout, cin / groups, kh, kw].
 */
export enum ConvParam {
  N,
  H,
  W,
  Cin,
  OutH,
  OutW,
  Cout,
  KernelH,
  KernelW,
  Groups,
  StrideH,
  StrideW,
  DilationH,
  DilationW,
  PadTop,
  PadBottom,
  PadLeft,
  PadRight,
  Activation,
  HasBias,
  WeightLayout,
}
export const CONV_PARAM_COUNT = 21;

export enum ConvWeightLayout {
  Hwio = 0,
  Oihw = 1,
}

/** Activations the forward convolution fuses (oneDNN post-ops). */
export enum ConvActivation {
  Linear = 0,
  Relu = 1,
  Relu6 = 2,
}

/**
 * Parameters of the PG quantizer and gate kernels, packed in this order into an Int32Array (ELT_PARAM_COUNT).
 * Size: elements of the activation; Scales: entries of the scale s, each for a contiguous block (1, or the
 * batch size); Channels: the last axis (Δ per channel; 1 for the quantizer); Sparse, WantSum: 0 or 1; Tail: a
 * GateTail (the gate forward's).
 */
export enum EltParam {
  Size,
  Scales,
  Bits,
  HBits,
  Channels,
  Sparse,
  WantSum,
  Tail,
}
export const ELT_PARAM_COUNT = 8;

/** What pgGateForward applies to its output: nothing, a ReLU, or ReLU(output + offset) (the residual Add, then a ReLU). */
export enum GateTail {
  None = 0,
  Relu = 1,
  AddRelu = 2,
}

/**
 * The addon's functions. `heap` is a Uint8Array over the wasm Memory (re-read after any allocation: memory can
 * grow); offsets are byte offsets into it, -1 for an absent bias. Everything runs synchronously.
 */
export interface NativeKernels {
  convForward(heap: Uint8Array, x: number, w: number, bias: number, y: number, params: Int32Array): void;
  convBackwardData(heap: Uint8Array, dy: number, w: number, dx: number, params: Int32Array): void;
  /** Writes dL/dW (and dL/dbias when bias >= 0) over the whole of their buffers. */
  convBackwardWeights(heap: Uint8Array, x: number, dy: number, dw: number, dbias: number, params: Int32Array): void;
  /** oneDNN's implementation for the convolution of `kind` (0 forward, 1 backward-data, 2 backward-weights). */
  convImplementation(kind: 0 | 1 | 2, params: Int32Array): string;
  /**
   * r = x/s, and the quantizer's high/low-bit parts hb, lb (same float32 ops as pg's quantSplit); with HBits 0
   * and lb -1, pg's fakeQuant x_q into hb.
   */
  pgQuantSplit(heap: Uint8Array, x: number, s: number, r: number, hb: number, lb: number, params: Int32Array): void;
  /** fakeQuant's straight-through gradients from r = x/s: dx, and ds per scale entry. */
  pgFakeQuantBackward(heap: Uint8Array, dy: number, r: number, s: number, dx: number, ds: number, params: Int32Array): void;
  /** dx = g·1[|r| <= 1]; with WantSum, dsHb[0] = Σ g·(hb/s - 1[|r| <= 1]·r) (else dsHb is -1). */
  pgQuantBackward(heap: Uint8Array, g: number, r: number, hb: number, s: number, dx: number, dsHb: number, params: Int32Array): void;
  /** `rows` rows of `width` 4-byte words from src to dst (byte offsets; strides in words): channel slices and concats of NHWC data. */
  columnCopy(heap: Uint8Array, src: number, srcStride: number, dst: number, dstStride: number, rows: number, width: number): void;
  /**
   * z = O_hb - Δ, or (O_hb + offset) - Δ with a gate offset (-1: absent), M = step(z) (written when m is not -1),
   * O = O_hb + M·O_lb, y = O, ReLU(O) or ReLU(O + offset) by the Tail parameter (GateTail); fraction[0] = ΣM / size
   * (as tfjs's mean of M) and counts = [ΣM, size], each -1 when not wanted.
   */
  pgGateForward(
    heap: Uint8Array,
    ohb: number,
    olb: number,
    offset: number,
    delta: number,
    y: number,
    z: number,
    m: number,
    fraction: number,
    counts: number,
    params: Int32Array,
  ): void;
  /**
   * The gate's surrogate backward (M = step(z)): dO_hb, dO_lb, dΔ (per channel), dz (the gate offset's gradient;
   * -1: not wanted) and, with WantSum, Σ dO_lb·O_lb. The gradient reaching M: a tensor dGate, or the one value
   * dgUniform[0] for every element, or neither (-1); not both. With `out` (the output after a ReLU tail; -1:
   * none) the gradient reaching O is dy·step(out).
   */
  pgGateBackward(
    heap: Uint8Array,
    dy: number,
    out: number,
    olb: number,
    z: number,
    dGate: number,
    dgUniform: number,
    dohb: number,
    dolb: number,
    dz: number,
    dDelta: number,
    dotLb: number,
    params: Int32Array,
    alpha: number,
  ): void;
  /** pg's per-tensor weight quantizer wq = sign(w)·((round((|w|/s_w)·n)/n)·s_w), s_w = max(max|w|, 1e-12) (Size, Bits). */
  pgQuantizeWeights(heap: Uint8Array, w: number, wq: number, params: Int32Array): void;
  /** GELU y = x·Φ(x) and its derivative slope = Φ(x) + x·φ(x) over `size` floats (erf within 1.5e-7, as tfjs's Erf). */
  pgGelu(heap: Uint8Array, x: number, y: number, slope: number, size: number): void;
  /** LayerNorm over the last axis of x [rows, c]: y = x̂·γ + β, x̂ = (x - μ)·r and r = 1/√(σ² + ε) per row. */
  pgLayerNorm(heap: Uint8Array, x: number, gamma: number, beta: number, y: number, xhat: number, r: number, rows: number, c: number, epsilon: number): void;
  /** pgLayerNorm's gradients from dy: dx, and dγ, dβ summed over the rows. */
  pgLayerNormBackward(heap: Uint8Array, dy: number, xhat: number, r: number, gamma: number, dx: number, dgamma: number, dbeta: number, rows: number, c: number): void;
  /**
   * c[i] = op(a[i])·op(b[i]) for `batch` row-major matrices: c[i] [m, n], a[i] [m, k] ([k, m] with transA 1),
   * b[i] [k, n] ([n, k] with transB 1).
   */
  batchMatMul(heap: Uint8Array, a: number, b: number, c: number, batch: number, m: number, k: number, n: number, transA: 0 | 1, transB: 0 | 1): void;
  /**
   * Max pooling of NHWC x into y, and arg: each output's winning flat input index (int32), ties to the last
   * cell in the window's row-major order. Params in ConvParam order (Cin the channels; dilation 1, no groups).
   */
  pgMaxPool(heap: Uint8Array, x: number, y: number, arg: number, params: Int32Array): void;
  /** dx = 0, then dx[arg] += dy in output order (pgMaxPool's gradient). */
  pgMaxPoolBackward(heap: Uint8Array, dy: number, arg: number, dx: number, params: Int32Array): void;
  /** out[p] = Σ_k slots[k·out.length + p] in float32, k in order from +0 (any thread count gives the same bits). */
  sumSlots(slots: Float32Array, shards: number, out: Float32Array): void;
  /**
   * One Adam step in place (x, m, v: byte offsets of grad.length floats in the heap), bit-identical to tfjs's
   * AdamOptimizer. scalars: β1, 1-β1, β2, 1-β2, 1-β1^t, 1-β2^t, ε, -lr (as float32).
   */
  adamUpdate(heap: Uint8Array, x: number, m: number, v: number, grad: Float32Array, scalars: Float32Array): void;
  /** The OpenMP team size of the calling JS thread's convolutions (each worker thread has its own). */
  setThreads(n: number): void;
  getThreads(): number;
  /**
   * One LSTM direction forward (ONNX gate order i, o, f, c; default activations): xp [T, N, 4H] the input
   * products with both biases, rt [H, 4H] = Rᵀ, h0 and c0 [N, H]; writes y [T, N, H] (h_t by time) and saved
   * [T, N, 5H] (c_t, i, o, f, g per step) for lstmBackward.
   */
  lstmForward(heap: Uint8Array, xp: number, rt: number, h0: number, c0: number, y: number, saved: number, params: Int32Array): void;
  /**
   * lstmForward's gradients from dy [T, N, H] (of y) and dhT, dcT [N, H] (of the final states): dxp [T, N, 4H]
   * (the gate pre-activations'), dh0, dc0 [N, H] and dRt [H, 4H] (of rt).
   */
  lstmBackward(
    heap: Uint8Array,
    rt: number,
    y: number,
    saved: number,
    h0: number,
    c0: number,
    dy: number,
    dhT: number,
    dcT: number,
    dxp: number,
    dh0: number,
    dc0: number,
    dRt: number,
    params: Int32Array,
  ): void;
}

/** Parameters of the LSTM kernels, packed in this order into an Int32Array (LSTM_PARAM_COUNT); Reverse is 0 or 1. */
export enum LstmParam {
  Steps,
  Batch,
  Hidden,
  Reverse,
}
export const LSTM_PARAM_COUNT = 4;

export type NativeLoad = { ok: true; kernels: NativeKernels } | { ok: false; reason: string };

let cached: NativeLoad | undefined;

/** The built addon (build/pg_native.node), or why it is not there. Loaded once per thread. */
export function loadNativeKernels(): NativeLoad {
  if (cached) return cached;
  const path = join(dirname(fileURLToPath(import.meta.url)), '..', 'build', 'pg_native.node');
  // OpenMP threads that spin while waiting (GNU's default) stall whenever a core is shared
  // (docs/native-kernels.md). Sleeping waits cost microseconds per convolution.
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
