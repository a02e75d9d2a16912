import * as tf from '@tensorflow/tfjs-core';
import { customGrad } from '../custom-grad.js';
import {
  nativeConv,
  nativeConvAvailable,
  nativeConvFilterBiasGrad,
  nativeConvFilterGrad,
  nativeConvInputGrad,
  nativeConvOnnxWeights,
  type WeightLayout,
} from '../native/native-grads.js';
import { channelSum } from './channel-sum.js';

/** An activation a forward-only convolution applies in its own kernel. */
export type FusedActivation = 'relu' | 'relu6';

export interface Conv2dGeometry {
  strides: [number, number];
  /** Explicit padding [top, bottom, left, right]. */
  pads: [number, number, number, number];
  dilations: [number, number];
}

/**
 * NHWC conv2d (+ bias, fused into the kernel) whose gradient works on every backend. With the native
 * (oneDNN) kernels on, both gradients are oneDNN's backward-data / backward-weights convolutions. Otherwise
 * they are computed here as forward convolutions: tfjs's wasm backend has no Conv2DBackpropFilter kernel,
 * and its Conv2DBackpropInput is a plain loop, several times slower than its XNNPACK forward conv
 * (docs/architecture.md).
 */
export function conv2dTrainable(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  g: Conv2dGeometry,
  bias?: tf.Tensor,
  filterGrad = true,
  activation?: FusedActivation,
  layout: WeightLayout = 'hwio',
  inputGrad = true,
): tf.Tensor4D {
  const [pt, pb, pl, pr] = g.pads;
  const explicit: [[number, number], [number, number], [number, number], [number, number]] = [
    [0, 0],
    [pt, pb],
    [pl, pr],
    [0, 0],
  ];
  // Inference only (the executor fuses no activation while training): one pass over the output instead of two.
  if (activation && layout === 'hwio') return tf.fused.conv2d({ x, filter: w, strides: g.strides, pad: explicit, dataFormat: 'NHWC', dilations: g.dilations, bias, activation });
  const backward = (d: tf.Tensor4D, xs: tf.Tensor4D, ws: tf.Tensor4D): tf.Tensor[] => {
    // tfjs computes every input's gradient of a custom op; skip the filter's when weights are frozen.
    const dw = filterGrad ? conv2dFilterGrad(xs, d, ws.shape, g, layout) : tf.zerosLike(ws);
    return [dx(d, xs, ws), dw];
  };
  // ... and the input's when nothing upstream is trained (a stem conv reading the model input).
  const dx = (d: tf.Tensor4D, xs: tf.Tensor, ws: tf.Tensor): tf.Tensor => (inputGrad ? conv2dInputGrad(d, ws as tf.Tensor4D, xs.shape, g, layout) : tf.zerosLike(xs));
  // The forward: tfjs's conv (the native kernel when on) on a tfjs filter, oneDNN straight on an ONNX one.
  const forward = (xi: tf.Tensor4D, wi: tf.Tensor4D, bi?: tf.Tensor): tf.Tensor4D =>
    layout === 'oihw'
      ? onnxLayoutOnly(nativeConvOnnxWeights(xi, wi, g, 1, bi, activation ?? 'linear'))
      : bi
        ? tf.fused.conv2d({ x: xi, filter: wi, strides: g.strides, pad: explicit, dataFormat: 'NHWC', dilations: g.dilations, bias: bi })
        : tf.conv2d(xi, wi, g.strides, explicit, 'NHWC', g.dilations);
  if (activation) return forward(x, w, bias);
  if (!bias) {
    const op = customGrad<[tf.Tensor4D, tf.Tensor4D]>(([xi, wi], save) => {
      save([xi, wi]);
      return {
        value: forward(xi, wi),
        gradFunc: (dy, [xs, ws]) => backward(dy as tf.Tensor4D, xs as tf.Tensor4D, ws as tf.Tensor4D),
      };
    });
    return op(x, w) as tf.Tensor4D;
  }
  const op = customGrad<[tf.Tensor4D, tf.Tensor4D, tf.Tensor]>(([xi, wi, bi], save) => {
    save([xi, wi]);
    return {
      // A broadcast bias add is one of tfjs-wasm's slow kernels; the fused conv adds it for free.
      value: forward(xi, wi, bi),
      gradFunc: (dy, [xs, ws]) => {
        const d = dy as tf.Tensor4D;
        if (!filterGrad) return [dx(d, xs, ws), tf.zerosLike(ws), channelSum(d, bi)];
        const [dw, db] = conv2dFilterBiasGrad(xs as tf.Tensor4D, d, ws.shape, g, bi, layout);
        return [dx(d, xs, ws), dw, db];
      },
    };
  });
  return op(x, w, bias) as tf.Tensor4D;
}

/**
 * dL/dW and dL/dbias (shaped like `bias`) of an NHWC conv: one oneDNN backward-weights pass when native, else
 * the composed filter gradient and a channel sum.
 */
export function conv2dFilterBiasGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  wShape: number[],
  g: Conv2dGeometry,
  bias: tf.Tensor,
  layout: WeightLayout = 'hwio',
): [tf.Tensor4D, tf.Tensor] {
  const native = nativeConvFilterBiasGrad(x, dy, wShape, g, 1, layout);
  if (native) return [native[0], tf.reshape(native[1], bias.shape)];
  composedNeedsHwio(layout);
  return [composedFilterGrad(x, dy, wShape, g), channelSum(dy, bias)];
}

/** dL/dW (in the filter's layout) of an NHWC conv: oneDNN's backward-weights when native, else composed (below). */
export function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, wShape: number[], g: Conv2dGeometry, layout: WeightLayout = 'hwio'): tf.Tensor4D {
  const native = nativeConvFilterGrad(x, dy, wShape, g, 1, layout);
  if (native) return native;
  composedNeedsHwio(layout);
  return composedFilterGrad(x, dy, wShape, g);
}

/**
 * An ONNX-layout filter trains only on the native kernels; callers check nativeConvAvailable first (with the
 * addon off they transpose to tfjs's layout), so a missing native result here is a pg bug.
 */
function onnxLayoutOnly<T>(v: T | undefined): T {
  if (v === undefined) throw new Error('internal: an ONNX-layout filter needs the native convolution kernels');
  return v;
}

function composedNeedsHwio(layout: WeightLayout): void {
  if (layout === 'oihw') onnxLayoutOnly(undefined);
}

/** Whether conv2dTrainable takes this ONNX-layout filter ([cout, cin, kh, kw], group 1) without a transpose. */
export function onnxLayoutTrainable(x: tf.Tensor4D, wShape: number[], g: Conv2dGeometry, bias?: tf.Tensor): boolean {
  return nativeConvAvailable(x, wShape, g, 1, bias, 'oihw');
}

/**
 * dL/dx of an NHWC conv (any dilation): oneDNN's backward-data when native, else composed from forward
 * convolutions (a dilated convolution is the plain one with a zero-dilated filter).
 */
export function conv2dInputGrad(dy: tf.Tensor4D, w: tf.Tensor4D, xShape: number[], g: Conv2dGeometry, layout: WeightLayout = 'hwio'): tf.Tensor4D {
  const native = nativeConvInputGrad(dy, w, xShape, g, 1, layout);
  if (native) return native;
  composedNeedsHwio(layout);
  if (g.dilations[0] > 1 || g.dilations[1] > 1) return tf.tidy(() => composedInputGrad(dy, dilateFilter(w, g.dilations), xShape, { ...g, dilations: [1, 1] }));
  return composedInputGrad(dy, w, xShape, g);
}

/**
 * dL/dW for an NHWC conv, as a convolution itself: with the batch as channels, the padded input
 * [cin, H, W, N] convolved with dy [Ho, Wo, N, cout] (dilated by the forward stride, strided by the forward
 * dilation) gives [cin, kh', kw', cout], of which the first kh x kw are the gradient. This runs in
 * XNNPACK's conv, far faster than an im2col built from strided slices (docs/architecture.md).
 */
function composedFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, wShape: number[], g: Conv2dGeometry): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, cin, cout] = wShape;
    const [pt, pb, pl, pr] = g.pads;
    if ((g.strides[0] > 1 || g.strides[1] > 1) && (g.dilations[0] > 1 || g.dilations[1] > 1)) {
      throw new Error('training through a convolution with both stride and dilation is not supported yet');
    }
    const xp =
      pt || pb || pl || pr
        ? tf.pad(x, [
            [0, 0],
            [pt, pb],
            [pl, pr],
            [0, 0],
          ])
        : x;
    const xt = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D;
    const f = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
    const r = tf.conv2d(xt, f, g.dilations, 'valid', 'NHWC', g.strides);
    const c = r.shape[1] === kh && r.shape[2] === kw ? r : tf.slice(r, [0, 0, 0, 0], [cin, kh, kw, cout]);
    return tf.transpose(c, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/** dy [n, ho, wo, c] with sh - 1 zero rows after each row and sw - 1 zero columns after each column (the stride
 * undone), as one pad of a rank-6 view: [n, ho, 1, wo, 1, c] -> [n, ho, sh, wo, sw, c]. */
function insertStrideZeros(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return dy;
  const [n, ho, wo, c] = dy.shape;
  const padded = tf.pad(tf.reshape(dy, [n, ho, 1, wo, 1, c]), [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  return tf.reshape(padded, [n, ho * sh, wo * sw, c]);
}

/**
 * dL/dx for an NHWC conv as a forward convolution: dy with zeros inserted between rows/columns (stride),
 * padded by k - 1 - pad, correlated with the flipped filter whose in/out channels are swapped. Equal to
 * tf.conv2dTranspose. Dilation 1 only (conv2dInputGrad handles dilations).
 */
function composedInputGrad(dy: tf.Tensor4D, w: tf.Tensor4D, xShape: number[], g: Conv2dGeometry): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = w.shape;
    const [n, h, wd] = xShape;
    const [pt, , pl] = g.pads;
    const [sh, sw] = g.strides;
    const cout = dy.shape[3];
    const d = insertStrideZeros(dy, sh, sw);
    // Pad so that the valid correlation yields exactly the unpadded input's rows: k - 1 - pad before,
    // the rest after (negative where the forward left padded rows unread: crop those instead).
    const top = kh - 1 - pt;
    const left = kw - 1 - pl;
    const bottom = h + pt - d.shape[1];
    const right = wd + pl - d.shape[2];
    if (top < 0 || left < 0) throw new Error('convolution padding larger than the kernel is not supported for training');
    const dc = bottom < 0 || right < 0 ? tf.slice(d, [0, 0, 0, 0], [n, d.shape[1] + Math.min(bottom, 0), d.shape[2] + Math.min(right, 0), cout]) : d;
    const dp = tf.pad(dc, [
      [0, 0],
      [top, Math.max(bottom, 0)],
      [left, Math.max(right, 0)],
      [0, 0],
    ]);
    const wf = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    return tf.conv2d(dp as tf.Tensor4D, wf, 1, 'valid');
  });
}

/** A [kh, kw, ...] filter with dilation - 1 zeros between its taps: [(kh - 1) * dh + 1, (kw - 1) * dw + 1, ...]. */
export function dilateFilter(w: tf.Tensor4D, dilations: [number, number]): tf.Tensor4D {
  const [dh, dw] = dilations;
  const [kh, kw, a, b] = w.shape;
  const spread = tf.pad(tf.reshape(w, [kh, 1, kw, 1, a, b]), [
    [0, 0],
    [0, dh - 1],
    [0, 0],
    [0, dw - 1],
    [0, 0],
    [0, 0],
  ]);
  return tf.slice(tf.reshape(spread, [kh * dh, kw * dw, a, b]) as tf.Tensor4D, [0, 0, 0, 0], [(kh - 1) * dh + 1, (kw - 1) * dw + 1, a, b]);
}

/**
 * NHWC depthwise convolution, f: [kh, kw, cin, multiplier], output channel c * multiplier + m as in ONNX.
 * tfjs-wasm has no DepthwiseConv2dNativeBackprop* kernels, so both gradients are written here: the input's
 * as depthwise convolutions too (see below). A stride and a dilation > 1 together are not supported (the
 * caller runs those at stride 1 and subsamples).
 */
export function depthwiseConv2dTrainable(x: tf.Tensor4D, f: tf.Tensor4D, g: Conv2dGeometry, bias?: tf.Tensor, filterGrad = true, activation?: FusedActivation): tf.Tensor4D {
  const [kh, kw, c, m] = f.shape;
  if (!activation && nativeConvAvailable(x, [kh, kw, 1, c * m], g, c, bias)) {
    // The same memory as a grouped filter [kh, kw, 1, c * m] with c groups (a reshape autodiff goes through).
    const y = groupedConv2dTrainable(x, tf.reshape(f, [kh, kw, 1, c * m]), g, c, bias, filterGrad);
    if (y) return y;
  }
  const [pt, pb, pl, pr] = g.pads;
  const xp =
    pt || pb || pl || pr
      ? (tf.pad(x, [
          [0, 0],
          [pt, pb],
          [pl, pr],
          [0, 0],
        ]) as tf.Tensor4D)
      : x;
  if (activation) return tf.fused.depthwiseConv2d({ x: xp, filter: f, strides: g.strides, pad: 'valid', dataFormat: 'NHWC', dilations: g.dilations, bias, activation });
  const backward = (dy: tf.Tensor4D, xs: tf.Tensor4D, fs: tf.Tensor4D): tf.Tensor[] => [
    depthwiseInputGrad(dy, fs, xs.shape, g),
    filterGrad ? depthwiseFilterGrad(xs, dy, fs.shape, g) : tf.zerosLike(fs),
  ];
  if (!bias) {
    const op = customGrad<[tf.Tensor4D, tf.Tensor4D]>(([xi, fi], save) => {
      save([xi, fi]);
      return {
        value: tf.depthwiseConv2d(xi, fi, g.strides, 'valid', 'NHWC', g.dilations),
        gradFunc: (dy, [xs, fs]) => backward(dy as tf.Tensor4D, xs as tf.Tensor4D, fs as tf.Tensor4D),
      };
    });
    return op(xp, f) as tf.Tensor4D;
  }
  const op = customGrad<[tf.Tensor4D, tf.Tensor4D, tf.Tensor]>(([xi, fi, bi], save) => {
    save([xi, fi]);
    return {
      // As for conv2dTrainable: the fused kernel adds the bias, where a broadcast add is slow on wasm.
      value: tf.fused.depthwiseConv2d({ x: xi, filter: fi, strides: g.strides, pad: 'valid', dataFormat: 'NHWC', dilations: g.dilations, bias: bi }),
      gradFunc: (dy, [xs, fs]) => [...backward(dy as tf.Tensor4D, xs as tf.Tensor4D, fs as tf.Tensor4D), channelSum(dy, bi)],
    };
  });
  return op(xp, f, bias) as tf.Tensor4D;
}

/**
 * A grouped NHWC convolution (filter [kh, kw, cin / groups, cout], output channels group-major as ONNX) with
 * oneDNN's kernels: padded by the kernel itself (no padded copy of x), gradients from oneDNN's grouped
 * backward-data / backward-weights (the bias's from the filter's pass). Undefined when the native kernels are
 * off or do not take the shape: callers then compose it from per-group or depthwise tfjs convolutions.
 */
export function groupedConv2dTrainable(x: tf.Tensor4D, w: tf.Tensor4D, g: Conv2dGeometry, groups: number, bias?: tf.Tensor, filterGrad = true): tf.Tensor4D | undefined {
  if (!nativeConvAvailable(x, w.shape, g, groups, bias)) return undefined;
  const backward = (dy: tf.Tensor4D, xs: tf.Tensor4D, ws: tf.Tensor4D): tf.Tensor[] => [
    nativeConvInputGrad(dy, ws, xs.shape, g, groups)!,
    filterGrad ? nativeConvFilterGrad(xs, dy, ws.shape, g, groups)! : tf.zerosLike(ws),
  ];
  if (!bias) {
    const op = customGrad<[tf.Tensor4D, tf.Tensor4D]>(([xi, wi], save) => {
      save([xi, wi]);
      return {
        value: nativeConv(xi, wi, g, groups)!,
        gradFunc: (dy, [xs, ws]) => backward(dy as tf.Tensor4D, xs as tf.Tensor4D, ws as tf.Tensor4D),
      };
    });
    return op(x, w) as tf.Tensor4D;
  }
  const op = customGrad<[tf.Tensor4D, tf.Tensor4D, tf.Tensor]>(([xi, wi, bi], save) => {
    save([xi, wi]);
    return {
      value: nativeConv(xi, wi, g, groups, bi)!,
      gradFunc: (dy, [xs, ws]) => {
        const d = dy as tf.Tensor4D;
        if (!filterGrad) return [...backward(d, xs as tf.Tensor4D, ws as tf.Tensor4D), channelSum(d, bi)];
        const [dw, db] = nativeConvFilterBiasGrad(xs as tf.Tensor4D, d, ws.shape, g, groups)!;
        return [nativeConvInputGrad(d, ws as tf.Tensor4D, xs.shape, g, groups)!, dw, tf.reshape(db, bi.shape)];
      },
    };
  });
  return op(x, w, bias) as tf.Tensor4D;
}

/**
 * dL/dx of a valid depthwise convolution (x already padded): the output gradient, stride-dilated and fully
 * padded, correlated with the flipped filter (summed over the multiplier).
 */
function depthwiseInputGrad(dy: tf.Tensor4D, f: tf.Tensor4D, xShape: number[], g: Conv2dGeometry): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, c, m] = f.shape;
    const [n, h, w] = xShape;
    const [sh, sw] = g.strides;
    const [dh, dw] = g.dilations;
    const cm = c * m;
    // Rows past the input (a 1x1 kernel with a stride can leave some unread) are cropped.
    let d = insertStrideZeros(dy, sh, sw);
    if (d.shape[1] > h || d.shape[2] > w) d = tf.slice(d, [0, 0, 0, 0], [n, Math.min(d.shape[1], h), Math.min(d.shape[2], w), cm]);
    // Full correlation: (effective kernel - 1) before, whatever makes the output the input's size after.
    const eh = (kh - 1) * dh + 1;
    const ew = (kw - 1) * dw + 1;
    const dp = tf.pad(d, [
      [0, 0],
      [eh - 1, h - d.shape[1]],
      [ew - 1, w - d.shape[2]],
      [0, 0],
    ]) as tf.Tensor4D;
    const flipped = tf.reshape(tf.reverse(f, [0, 1]), [kh, kw, cm, 1]) as tf.Tensor4D;
    const r = tf.depthwiseConv2d(dp, flipped, 1, 'valid', 'NHWC', g.dilations);
    return (m === 1 ? r : tf.sum(tf.reshape(r, [n, h, w, c, m]), 4)) as tf.Tensor4D;
  });
}

/**
 * dL/df of a valid depthwise convolution (x already padded), as one depthwise convolution: with (batch,
 * channel) pairs as channels, x [1, H, W, n*c] correlated with dy as the filter [Ho, Wo, n*c, m] (dilated by
 * the forward stride, strided by the forward dilation) gives each pair's [kh, kw] correlation; summing over
 * the batch leaves the gradient. Per-tap slices instead would need StridedSlice, very slow on wasm.
 */
function depthwiseFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, fShape: number[], g: Conv2dGeometry): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, c, m] = fShape;
    const [n, h, w] = x.shape;
    const [, ho, wo] = dy.shape;
    const xt = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, h, w, n * c]) as tf.Tensor4D;
    const ft = tf.reshape(tf.transpose(tf.reshape(dy, [n, ho, wo, c, m]), [1, 2, 0, 3, 4]), [ho, wo, n * c, m]) as tf.Tensor4D;
    const r = tf.depthwiseConv2d(xt, ft, g.dilations, 'valid', 'NHWC', g.strides);
    const taps = r.shape[1] === kh && r.shape[2] === kw ? r : tf.slice(r, [0, 0, 0, 0], [1, kh, kw, n * c * m]);
    return tf.sum(tf.reshape(taps, [kh, kw, n, c, m]), 2) as tf.Tensor4D;
  });
}
