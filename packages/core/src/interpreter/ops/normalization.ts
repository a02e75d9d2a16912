import * as tf from '@tensorflow/tfjs-core';
import { attrFloat, attrInt } from '../attributes.js';
import type { Kernel } from '../kernel.js';
import type { OpDeclaration } from '../op-declaration.js';
import type { NodeUpgrade } from '../../graph/index.js';
import { nhwc, plain, toLogical, toNhwc, type RtValue } from '../value.js';
import { input, malformed, normAxis, unsupported, wantsOutput } from './common.js';
import { withoutAttributes } from './upgrades.js';
import { customGrad } from '../custom-grad.js';
import { nativeLayerNorm } from '../native/layer-norm-kernels.js';

/**
 * BatchNormalization, channels on axis 1 of the logical tensor. Inference uses the running statistics;
 * training mode (opset 14's training_mode=1) normalizes with the batch's own and also outputs the updated
 * running statistics. Before opset 14 training mode is implied by asking for the statistics outputs (not
 * supported); before 9, a `spatial` attribute may ask for per-activation statistics (not supported).
 */
const batchNorm =
  (form: 1 | 14): Kernel =>
  (inputs, ctx) => {
    const { node } = ctx;
    const xv = input(node, inputs, 0);
    const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => toLogical(input(node, inputs, i)));
    const eps = attrFloat(node, 'epsilon', 1e-5);
    if (attrInt(node, 'spatial', 1) !== 1) throw unsupported(node, 'spatial=0 (per-activation statistics) is not supported');
    const training = form === 14 ? attrInt(node, 'training_mode', 0) === 1 : node.outputs.filter(Boolean).length > 1;
    if (training && form < 14) throw unsupported(node, 'training mode before opset 14 (outputs saved_mean/saved_var) is not supported');
    // NHWC puts channels last, where [C] parameters broadcast as they are; other layouts reshape them to [C, 1...].
    const x = xv.t.rank === 4 ? toNhwc(xv) : xv.t;
    const isNhwc = xv.t.rank === 4;
    const wrap = (t: tf.Tensor): RtValue => (isNhwc ? nhwc(t) : plain(t));
    const channelAxis = isNhwc ? 3 : 1;
    const param = (t: tf.Tensor) => (isNhwc || x.rank === 2 ? t : tf.reshape(t, [t.shape[0], ...new Array<number>(x.rank - 2).fill(1)]));
    const normalize = (m: tf.Tensor, v: tf.Tensor) => {
      // y = x * a + b with per-channel a = scale / sqrt(var + eps), b = bias - mean * a. tfjs-wasm's fused
      // batch norm broadcasts over the last axis only, so it serves the NHWC case alone.
      if (isNhwc) return tf.batchNorm(x, m, v, bias, scale, eps);
      const a = tf.mul(scale, tf.rsqrt(tf.add(v, eps)));
      return tf.add(tf.mul(x, param(a)), param(tf.sub(bias, tf.mul(m, a))));
    };
    if (!training) return [wrap(normalize(mean, variance))];
    const axes = x.shape.map((_, i) => i).filter((i) => i !== normAxis(channelAxis, x.rank));
    const { mean: bm, variance: bv } = tf.moments(x, axes);
    const momentum = attrFloat(node, 'momentum', 0.9);
    const running = (r: tf.Tensor, b: tf.Tensor) => tf.add(tf.mul(r, momentum), tf.mul(b, 1 - momentum));
    return [wrap(normalize(bm, bv)), plain(running(mean, bm)), plain(running(variance, bv))];
  };

/** To opset 9 (no `spatial`) or 14 (`training_mode`): the same meaning for an inference node pg runs. */
const batchNormInference: NodeUpgrade = (node, tools) => {
  if (attrInt(node, 'spatial', 1) !== 1) tools.refuse('spatial=0 (per-activation statistics) has no later form');
  if (node.outputs.filter(Boolean).length > 1) tools.refuse('training mode (the statistics outputs) has no later form that pg rewrites');
  return withoutAttributes(node, 'spatial', 'is_test', 'consumed_inputs');
};

/**
 * LayerNormalization (opset 17): normalizes over the axes from `axis` (default -1) to the last, in float32
 * (stash_type 1), then scales and shifts by Scale and the optional B, which broadcast against those axes.
 * The optional outputs are the mean and 1/sqrt(var + epsilon), of the reduced shape with the normalized
 * axes kept as 1.
 */
const layerNorm: Kernel = (inputs, ctx) => {
  const { node } = ctx;
  const x = toLogical(input(node, inputs, 0));
  const scale = toLogical(input(node, inputs, 1));
  const bias = inputs[2] ? toLogical(inputs[2]) : undefined;
  if (attrInt(node, 'stash_type', 1) !== 1) throw unsupported(node, 'stash_type other than 1 (float32 statistics) is not supported');
  const axis = normAxis(attrInt(node, 'axis', -1), x.rank);
  if (axis < 0 || axis >= x.rank) throw malformed(node, `axis ${attrInt(node, 'axis', -1)} is out of range for a rank-${x.rank} input`);
  const eps = attrFloat(node, 'epsilon', 1e-5);
  // Outputs nobody asked for are not returned: the executor frees only the values it stores.
  if (!wantsOutput(node, 1) && !wantsOutput(node, 2)) return [plain(layerNormalize(x, scale, bias, axis, eps))];
  const { y, mean, invStd } = layerNormStatistics(x, scale, bias, axis, eps);
  return [plain(y), plain(mean), plain(invStd)];
};

function layerNormStatistics(x: tf.Tensor, scale: tf.Tensor, bias: tf.Tensor | undefined, axis: number, eps: number) {
  const axes = x.shape.map((_, i) => i).slice(axis);
  const mean = tf.mean(x, axes, true);
  const centred = tf.sub(x, mean);
  const invStd = tf.rsqrt(tf.add(tf.mean(tf.square(centred), axes, true), eps));
  const normalized = tf.mul(centred, invStd);
  const y = tf.mul(normalized, scale);
  return { y: bias ? tf.add(y, bias) : y, mean, invStd, normalized };
}

/** `t` summed down to `shape`, which broadcasts to t's shape (numpy rules): a broadcast operand's gradient. */
function sumTo(t: tf.Tensor, shape: readonly number[]): tf.Tensor {
  const lead = t.rank - shape.length;
  const axes = t.shape.map((d, i) => i).filter((i) => i < lead || (shape[i - lead] === 1 && t.shape[i] !== 1));
  return tf.reshape(axes.length ? tf.sum(t, axes) : t, shape as number[]);
}

/**
 * LayerNorm over the axes from `axis` on, y = (x − μ)·r·γ + β with r = 1/√(σ² + ε), and its gradient written
 * out: with g = dy·γ and x̂ = (x − μ)·r, dx = r·(g − mean(g) − x̂·mean(g·x̂)), dγ = Σ dy·x̂, dβ = Σ dy. Autodiff of
 * the forward ops takes about three times as many kernels, and a transformer has two LayerNorms a block.
 */
export function layerNormalize(x: tf.Tensor, scale: tf.Tensor, bias: tf.Tensor | undefined, axis: number, eps: number): tf.Tensor {
  const shift = bias ?? tf.zeros(scale.shape);
  // While training, over the last axis: one native pass each way (layer-norm-kernels.ts); inference keeps these ops.
  const native = tf.engine().isTapeOn() && axis === x.rank - 1 ? nativeLayerNorm(x, scale, shift, eps) : undefined;
  if (native) return native;
  const f = customGrad<[tf.Tensor, tf.Tensor, tf.Tensor]>(([xi, gamma, beta], save) => {
    const { y, invStd, normalized } = layerNormStatistics(xi, gamma, beta, axis, eps);
    save([normalized, invStd, gamma]);
    return {
      value: y,
      gradFunc: (dy, [xh, r, gm]) => {
        const axes = xh.shape.map((_, i) => i).slice(axis);
        const g = tf.mul(dy, gm);
        const dx = tf.mul(r, tf.sub(tf.sub(g, tf.mean(g, axes, true)), tf.mul(xh, tf.mean(tf.mul(g, xh), axes, true))));
        return [dx, sumTo(tf.mul(dy, xh), gm.shape), sumTo(dy, shift.shape)];
      },
    };
  });
  return f(x, scale, shift);
}

/** Before opset 13 softmax flattens the input to 2-D at `axis` (default 1); from 13 it is per axis (default -1). */
function softmax(kind: 'softmax' | 'logSoftmax', form: 1 | 13): Kernel {
  return ([x], ctx) => {
    const t = toLogical(x!);
    const fn = kind === 'softmax' ? tf.softmax : tf.logSoftmax;
    if (form === 1) {
      const axis = attrInt(ctx.node, 'axis', 1);
      const a = axis < 0 ? axis + t.rank : axis;
      const outer = t.shape.slice(0, a).reduce((p, q) => p * q, 1);
      return [plain(tf.reshape(fn(tf.reshape(t, [outer, -1])), t.shape))];
    }
    const axis = attrInt(ctx.node, 'axis', -1);
    const a = axis < 0 ? axis + t.rank : axis;
    if (a === t.rank - 1) return [plain(fn(t))];
    const perm = t.shape.map((_, i) => i);
    perm[a] = t.rank - 1;
    perm[t.rank - 1] = a;
    return [plain(tf.transpose(fn(tf.transpose(t, perm)), perm))];
  };
}

export const NORMALIZATION_OPS: readonly OpDeclaration[] = [
  { op: 'BatchNormalization', since: 1, cost: 'normalization', kernel: batchNorm(1) },
  { op: 'BatchNormalization', since: 9, cost: 'normalization', kernel: batchNorm(1), upgrade: batchNormInference },
  { op: 'BatchNormalization', since: 14, cost: 'normalization', kernel: batchNorm(14), upgrade: batchNormInference },
  { op: 'LayerNormalization', since: 17, cost: 'normalization', kernel: layerNorm },
  // A node of the 2-D form is the per-axis form only when `axis` is the last: no rewrite without shapes.
  { op: 'Softmax', since: 1, cost: 'softmax', kernel: softmax('softmax', 1) },
  { op: 'Softmax', since: 13, cost: 'softmax', kernel: softmax('softmax', 13) },
  { op: 'LogSoftmax', since: 1, cost: 'softmax', kernel: softmax('logSoftmax', 1) },
  { op: 'LogSoftmax', since: 13, cost: 'softmax', kernel: softmax('logSoftmax', 13) },
];
