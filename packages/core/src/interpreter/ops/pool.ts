import * as tf from '@tensorflow/tfjs-core';
import type { Node } from '../../graph/index.js';
import { attrInt, attrInts } from '../attributes.js';
import type { Kernel, KernelContext } from '../kernel.js';
import type { OpDeclaration } from '../op-declaration.js';
import { nhwc, plain, toLogical, toNhwc, type RtValue } from '../value.js';
import { nativeMaxPool } from '../native/index.js';
import { input, malformed, takeEvery, unsupported, wantsOutput } from './common.js';
import { explicitPads, lift1d, spatialAttrs, type SpatialAttrs } from './spatial.js';

type Pads = [number, number][];

interface PoolGeometry {
  /** [begin, end] per spatial axis, including the extra end cells ceil_mode needs. */
  pads: Pads;
  /** The ONNX pads alone (count_include_pad counts these, never ceil_mode's extra). */
  onnxPads: Pads;
}

function poolGeometry(node: Node, a: SpatialAttrs, k: number[], inSize: number[]): PoolGeometry {
  const onnxPads = explicitPads(a, inSize, k);
  const pads = onnxPads.map(([b, e]) => [b, e] as [number, number]);
  if (attrInt(node, 'ceil_mode', 0) === 1) {
    inSize.forEach((n, i) => {
      const [b, e] = onnxPads[i];
      const span = (k[i] - 1) * a.dilations[i] + 1;
      let out = Math.ceil((n + b + e - span) / a.strides[i]) + 1;
      // The last window must start inside the input or its leading padding (ONNX/PyTorch rule).
      if ((out - 1) * a.strides[i] >= n + b) out--;
      pads[i][1] += Math.max((out - 1) * a.strides[i] + span - (n + b + e), 0);
    });
  }
  return { pads, onnxPads };
}

const hasPad = (p: Pads) => p.some(([b, e]) => b !== 0 || e !== 0);
const padSpec = (p: Pads): Pads => [[0, 0], ...p, [0, 0]];

/**
 * Max or average pooling of a channels-last tensor (NHWC or NDHWC), padding explicitly so every ONNX
 * padding (asymmetric, SAME_*, ceil_mode) reduces to tfjs's 'valid' pools.
 */
function poolChannelsLast(kind: 'max' | 'avg', node: Node, x: tf.Tensor, a: SpatialAttrs, k: number[], training: boolean): tf.Tensor {
  const is3d = x.rank === 5;
  const g = poolGeometry(node, a, k, x.shape.slice(1, -1));
  const s = a.strides;
  const maxPoolPadded = (t: tf.Tensor, padValue: number): tf.Tensor => {
    // tfjs-wasm's MaxPool (XNNPACK) skips explicit padding cells itself, faster than a padded copy
    // (docs/models.md). Same values when every window holds an input cell
    // (pads below the kernel size); kept to wasm, where that was checked.
    const direct = !is3d && hasPad(g.pads) && padValue < 0 && tf.getBackend() === 'wasm' && a.dilations.every((d) => d === 1) && g.pads.every(([b, e], i) => b < k[i] && e < k[i]);
    if (direct) return tf.maxPool(t as tf.Tensor4D, k as [number, number], s as [number, number], padSpec(g.pads) as tf.backend_util.ExplicitPadding);
    const xp = hasPad(g.pads) ? tf.pad(t, padSpec(g.pads), padValue) : t;
    if (!is3d) return maxPool2d(xp as tf.Tensor4D, k, s, a.dilations);
    // tfjs-wasm's MaxPool3D starts its running max at FLT_MIN (clamping negative maxima to 1e-38). Max is
    // separable: pool H and W per depth slice, then D over the flattened H*W, both as 2-D pools.
    const [n, d, h, w, c] = xp.shape;
    const hw = maxPool2d(tf.reshape(xp, [n * d, h, w, c]) as tf.Tensor4D, k.slice(1), s.slice(1), a.dilations.slice(1));
    const [, ho, wo] = hw.shape;
    const y = maxPool2d(tf.reshape(hw, [n, d, ho * wo, c]) as tf.Tensor4D, [k[0], 1], [s[0], 1], [a.dilations[0], 1]);
    return tf.reshape(y, [n, y.shape[1], ho, wo, c]);
  };
  const dilated = a.dilations.some((d) => d > 1);
  const avgPool = (t: tf.Tensor): tf.Tensor => {
    if (is3d) return tf.avgPool3d(t as tf.Tensor5D, k as [number, number, number], s as [number, number, number], 'valid');
    if (!dilated) return tf.avgPool(t as tf.Tensor4D, k as [number, number], s as [number, number], 'valid');
    // tf.pool takes a dilation only at stride 1: pool densely, then subsample.
    const dense = tf.pool(t as tf.Tensor4D, k as [number, number], 'avg', 'valid', a.dilations as [number, number], 1);
    return takeEvery(takeEvery(dense, 1, s[0]), 2, s[1]);
  };
  if (kind === 'max') {
    if (training && x.dtype === 'float32') {
      // The native pool records each window's winner, so its gradient is one scatter instead of tfjs-wasm's
      // slow MaxPoolGrad (docs/native-kernels.md) and needs no shift: its forward is exactly tf.maxPool's.
      if (!is3d && a.dilations.every((d) => d === 1) && g.pads.every(([b, e], i) => b < k[i] && e < k[i])) {
        const [, h, w] = x.shape;
        const outH = Math.floor((h + g.pads[0][0] + g.pads[0][1] - k[0]) / s[0]) + 1;
        const outW = Math.floor((w + g.pads[1][0] + g.pads[1][1] - k[1]) / s[1]) + 1;
        const y = nativeMaxPool(x as tf.Tensor4D, { kernel: [k[0], k[1]], strides: [s[0], s[1]], padBegin: [g.pads[0][0], g.pads[1][0]] }, outH, outW);
        if (y) return y;
      }
      // tfjs-wasm's MaxPoolGrad starts its running max at 0: a window whose maximum is negative sends its
      // gradient to the wrong cell. Pool x - m + m, with the constant m below every value, padding with 0.
      // m is a constant read out of the tape: as stopGradient(min(x) - 1), autodiff would run Min's gradient
      // (an Equal mask over all of x, a large part of a training step) only to multiply it by zero.
      // fround(v) - 1 in double, rounded to float32, is the float32 subtraction tf.sub did, so m is unchanged.
      const m = tf.scalar(Math.fround(tf.min(x).dataSync()[0]) - 1);
      return tf.add(maxPoolPadded(tf.sub(x, m), 0), m);
    }
    // Padding with the lowest value makes padded cells never win, on every backend.
    return maxPoolPadded(x, x.dtype === 'int32' ? -2147483648 : -3.4e38);
  }
  if (dilated && is3d) throw unsupported(node, 'dilated 3-D average pooling is not supported');
  if (!hasPad(g.pads)) return avgPool(x);
  const includePad = attrInt(node, 'count_include_pad', 0) === 1;
  const sum = avgPool(tf.pad(x, padSpec(g.pads)));
  // Divide by the cells each window really covers: all ONNX pads count with count_include_pad, none without.
  const ones = tf.ones([1, ...x.shape.slice(1, -1), 1]);
  const counted = includePad ? tf.pad(ones, padSpec(g.onnxPads), 1) : ones;
  const extra: Pads = g.pads.map(([b, e], i) => (includePad ? [b - g.onnxPads[i][0], e - g.onnxPads[i][1]] : [b, e]));
  return tf.div(sum, avgPool(tf.pad(counted, padSpec(extra))));
}

/**
 * Valid 2-D max pooling of NHWC. tf.pool takes a dilation only at stride 1, so a dilated pool runs as two
 * 1-D passes (max over a rectangle is separable), each dense along its axis and then subsampled.
 */
function maxPool2d(x: tf.Tensor4D, k: number[], s: number[], d: number[]): tf.Tensor4D {
  if (d.every((v) => v === 1)) return tf.maxPool(x, k as [number, number], s as [number, number], 'valid');
  let y: tf.Tensor4D = x;
  for (const a of [0, 1]) {
    const along = (v: number): [number, number] => (a === 0 ? [v, 1] : [1, v]);
    if (k[a] === 1 && s[a] === 1) continue;
    if (d[a] === 1) {
      y = tf.maxPool(y, along(k[a]), along(s[a]), 'valid');
    } else {
      y = takeEvery(tf.pool(y, along(k[a]), 'max', 'valid', along(d[a]), 1), a + 1, s[a]) as tf.Tensor4D;
    }
  }
  return y;
}

function pool(kind: 'max' | 'avg'): Kernel {
  return (inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] => {
    const { node } = ctx;
    const x = input(node, inputs, 0);
    const rank = x.t.rank;
    const k = attrInts(node, 'kernel_shape');
    if (!k || k.length !== rank - 2) throw malformed(node, `kernel_shape must give ${rank - 2} sizes`);
    // MaxPool's optional argmax output (Indices, in ONNX's NCHW flattening) is not implemented: CNNs never read it.
    if (kind === 'max' && wantsOutput(node, 1)) throw unsupported(node, "the optional output 'Indices' is not supported");
    switch (rank) {
      case 4:
        return [nhwc(poolChannelsLast(kind, node, toNhwc(x), spatialAttrs(node, 2), k, ctx.training))];
      case 3: {
        // 1-D pools run as 2-D ones over [1, L].
        const [n, c, l] = x.t.shape;
        const x4 = tf.reshape(tf.transpose(toLogical(x), [0, 2, 1]), [n, 1, l, c]);
        const y = poolChannelsLast(kind, node, x4, lift1d(spatialAttrs(node, 1)), [1, ...k], ctx.training);
        return [plain(tf.transpose(tf.squeeze(y, [1]), [0, 2, 1]))];
      }
      case 5: {
        const y = poolChannelsLast(kind, node, tf.transpose(toLogical(x), [0, 2, 3, 4, 1]), spatialAttrs(node, 3), k, ctx.training);
        return [plain(tf.transpose(y, [0, 4, 1, 2, 3]))];
      }
      default:
        throw unsupported(node, `${rank - 2}-D pooling is not supported`);
    }
  };
}

function globalPool(reduce: (x: tf.Tensor, axes: number[], keep: boolean) => tf.Tensor): Kernel {
  return (inputs, ctx) => {
    const x = input(ctx.node, inputs, 0);
    if (x.nhwc) return [nhwc(reduce(x.t, [1, 2], true))];
    // Any rank: reduce every spatial axis of [N, C, ...], keeping them as 1s.
    const t = x.t;
    return [plain(reduce(t, t.shape.map((_, i) => i).slice(2), true))];
  };
}

// Later versions of the pools only added options (storage_order, ceil_mode, dilations...): one form each.
export const POOL_OPS: readonly OpDeclaration[] = [
  { op: 'MaxPool', since: 1, cost: 'window', kernel: pool('max') },
  { op: 'AveragePool', since: 1, cost: 'window', kernel: pool('avg') },
  { op: 'GlobalAveragePool', since: 1, cost: 'reduction', kernel: globalPool(tf.mean) },
  { op: 'GlobalMaxPool', since: 1, cost: 'reduction', kernel: globalPool(tf.max) },
];
