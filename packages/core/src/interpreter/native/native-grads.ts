import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  activeNativeKernels,
  nativeConvBackwardData,
  nativeConvBackwardWeights,
  nativeConvForward,
  nativeShapeSupported,
  type NativeActivation,
  type NativeConvShape,
} from './native-conv.js';

/** A convolution's geometry as pg's ops carry it (explicit pads [top, bottom, left, right]). */
export interface NativeGeometry {
  strides: [number, number];
  pads: [number, number, number, number];
  dilations: [number, number];
}

/**
 * A filter's layout: tfjs's [kh, kw, cin / groups, cout] or ONNX's [cout, cin / groups, kh, kw]. Training on
 * the ONNX layout skips the per-step weight transpose and its gradient's transpose back (oneDNN reorders
 * either layout exactly into its own, so results are the same bits).
 */
export type WeightLayout = 'hwio' | 'oihw';

/** A filter shape as [kh, kw, cin / groups, cout], whatever its layout. */
export function hwioShape(wShape: number[], layout: WeightLayout): number[] {
  if (layout === 'hwio') return wShape;
  const [cout, icg, kh, kw] = wShape;
  return [kh, kw, icg, cout];
}

function shape(xShape: number[], wShapeIn: number[], dyShape: number[] | undefined, g: NativeGeometry, groups: number, layout: WeightLayout = 'hwio'): NativeConvShape {
  const wShape = hwioShape(wShapeIn, layout);
  const [n, h, w, cin] = xShape;
  const [kh, kw, , cout] = wShape;
  const out = (size: number, k: number, d: number, s: number, a: number, b: number): number => Math.floor((size + a + b - ((k - 1) * d + 1)) / s) + 1;
  return {
    n,
    h,
    w,
    cin,
    cout,
    kh,
    kw,
    groups,
    outH: dyShape ? dyShape[1] : out(h, kh, g.dilations[0], g.strides[0], g.pads[0], g.pads[1]),
    outW: dyShape ? dyShape[2] : out(w, kw, g.dilations[1], g.strides[1], g.pads[2], g.pads[3]),
    strides: g.strides,
    dilations: g.dilations,
    pads: g.pads,
    weightLayout: layout,
  };
}

/** The wasm backend and the addon, when the native kernels are on and every tensor is float32 on wasm. */
function native(...ts: tf.Tensor[]): { backend: BackendWasm; k: NonNullable<ReturnType<typeof activeNativeKernels>> } | undefined {
  const k = activeNativeKernels();
  if (!k || tf.getBackend() !== 'wasm' || ts.some((t) => t.dtype !== 'float32')) return undefined;
  return { backend: tf.backend() as BackendWasm, k };
}

function tensor<R extends tf.Rank>(info: tf.TensorInfo): tf.Tensor<R> {
  return tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor<R>;
}

/** Whether nativeConv and its gradients take this convolution (native on, float32 on wasm, a valid shape). */
export function nativeConvAvailable(x: tf.Tensor4D, wShapeIn: number[], g: NativeGeometry, groups: number, bias?: tf.Tensor, layout: WeightLayout = 'hwio'): boolean {
  if (!native(x, ...(bias ? [bias] : []))) return false;
  const wShape = hwioShape(wShapeIn, layout);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== wShape[3])) return false;
  return nativeShapeSupported(shape(x.shape, wShape, undefined, g, groups)) && wShape[2] * groups === x.shape[3];
}

/**
 * Forward NHWC convolution with `groups` (filter [kh, kw, cin / groups, cout]; depthwise is groups == cin with
 * the filter [kh, kw, cin, multiplier] viewed as [kh, kw, 1, cin * multiplier]), or undefined when the native
 * kernels are off or the shape is one they do not take (callers then use their tfjs path).
 */
export function nativeConv(x: tf.Tensor4D, w: tf.Tensor4D, g: NativeGeometry, groups: number, bias?: tf.Tensor, activation: NativeActivation = 'linear'): tf.Tensor4D | undefined {
  const n = native(x, w, ...(bias ? [bias] : []));
  if (!n) return undefined;
  const s = shape(x.shape, w.shape, undefined, g, groups);
  if (!nativeShapeSupported(s) || w.shape[2] * groups !== s.cin || (bias && (bias.rank !== 1 || bias.shape[0] !== s.cout))) return undefined;
  return tensor(nativeConvForward(n.k, n.backend, x, w, bias, s, activation));
}

/**
 * Forward NHWC convolution straight from an ONNX-layout weight [cout, cin / groups, kh, kw] (no transpose, any
 * groups, stride and dilation together), or undefined as nativeConv. For inference: it has no gradient.
 */
export function nativeConvOnnxWeights(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  g: NativeGeometry,
  groups: number,
  bias?: tf.Tensor,
  activation: NativeActivation = 'linear',
): tf.Tensor4D | undefined {
  const n = native(x, w, ...(bias ? [bias] : []));
  if (!n) return undefined;
  const [cout, icg, kh, kw] = w.shape;
  const s: NativeConvShape = { ...shape(x.shape, [kh, kw, icg, cout], undefined, g, groups), weightLayout: 'oihw' };
  if (!nativeShapeSupported(s) || icg * groups !== s.cin || (bias && (bias.rank !== 1 || bias.shape[0] !== s.cout))) return undefined;
  return tensor(nativeConvForward(n.k, n.backend, x, w, bias, s, activation));
}

/** dL/dx of nativeConv's convolution (any stride, dilation and pads), or undefined as nativeConv. */
export function nativeConvInputGrad(dy: tf.Tensor4D, w: tf.Tensor4D, xShape: number[], g: NativeGeometry, groups: number, layout: WeightLayout = 'hwio'): tf.Tensor4D | undefined {
  const n = native(dy, w);
  if (!n) return undefined;
  const s = shape(xShape, w.shape, dy.shape, g, groups, layout);
  if (!nativeShapeSupported(s) || hwioShape(w.shape, layout)[2] * groups !== s.cin || dy.shape[3] !== s.cout) return undefined;
  return tensor(nativeConvBackwardData(n.k, n.backend, dy, w, s));
}

/** dL/dW (in the filter's layout) of nativeConv's convolution, or undefined as nativeConv. */
export function nativeConvFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, wShape: number[], g: NativeGeometry, groups: number, layout: WeightLayout = 'hwio'): tf.Tensor4D | undefined {
  const n = native(x, dy);
  if (!n) return undefined;
  const s = shape(x.shape, wShape, dy.shape, g, groups, layout);
  if (!nativeShapeSupported(s) || hwioShape(wShape, layout)[2] * groups !== s.cin || dy.shape[3] !== s.cout) return undefined;
  return tensor(nativeConvBackwardWeights(n.k, n.backend, x, dy, s, false).dw);
}

/**
 * dL/dW and dL/dbias (Σ of dy over all but channels, [cout]) in one oneDNN backward-weights pass, or undefined
 * as nativeConv. The bias gradient comes free with the filter's, where a separate channel sum is a matmul.
 */
export function nativeConvFilterBiasGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  wShape: number[],
  g: NativeGeometry,
  groups: number,
  layout: WeightLayout = 'hwio',
): [tf.Tensor4D, tf.Tensor1D] | undefined {
  const n = native(x, dy);
  if (!n) return undefined;
  const s = shape(x.shape, wShape, dy.shape, g, groups, layout);
  if (!nativeShapeSupported(s) || hwioShape(wShape, layout)[2] * groups !== s.cin || dy.shape[3] !== s.cout) return undefined;
  const { dw, db } = nativeConvBackwardWeights(n.k, n.backend, x, dy, s, true);
  return [tensor(dw), tensor(db!)];
}
