import * as tf from '@tensorflow/tfjs-core';
import { attrFloat, attrInt } from '../attributes.js';
import type { KernelContext } from '../kernel.js';
import { defaultRegistry } from '../registry.js';
import { nhwc, plain, toLogical, toNhwc, type RtValue } from '../value.js';
import { input, normAxis, unsupported } from './common.js';

/**
 * BatchNormalization, channels on axis 1 of the logical tensor. Inference uses the running statistics;
 * training mode (opset 14's training_mode=1) normalizes with the batch's own and also outputs the updated
 * running statistics.
 */
function batchNorm(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const { node } = ctx;
  const xv = input(node, inputs, 0);
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => toLogical(input(node, inputs, i)));
  const eps = attrFloat(node, 'epsilon', 1e-5);
  if (ctx.opset < 9 && attrInt(node, 'spatial', 1) !== 1) throw unsupported(node, 'spatial=0 (per-activation statistics) is not supported');
  // Before opset 14 training mode is implied by asking for the statistics outputs.
  const training = ctx.opset >= 14 ? attrInt(node, 'training_mode', 0) === 1 : node.outputs.filter(Boolean).length > 1;
  if (training && ctx.opset < 14) throw unsupported(node, 'training mode before opset 14 (outputs saved_mean/saved_var) is not supported');
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
}

function softmax(kind: 'softmax' | 'logSoftmax') {
  return ([x]: (RtValue | undefined)[], ctx: KernelContext): RtValue[] => {
    const t = toLogical(x!);
    const fn = kind === 'softmax' ? tf.softmax : tf.logSoftmax;
    // Before opset 13 softmax flattens the input to 2-D at `axis` (default 1); from 13 it is per axis (default -1).
    if (ctx.opset < 13) {
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

defaultRegistry.register('BatchNormalization', batchNorm);
defaultRegistry.register('Softmax', softmax('softmax'));
defaultRegistry.register('LogSoftmax', softmax('logSoftmax'));
