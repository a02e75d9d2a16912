import * as tf from '@tensorflow/tfjs-core';
import { attrFloat, attrInt } from '../attributes.js';
import type { KernelContext } from '../kernel.js';
import { defaultRegistry } from '../registry.js';
import { nhwc, plain, toLogical, toNhwc, type RtValue } from '../value.js';

/** Inference-mode BatchNormalization (running statistics), channels on axis 1 of the logical tensor. */
function batchNorm(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const [x, scale, bias, mean, variance] = inputs.map((v) => v && toLogical(v));
  const eps = attrFloat(ctx.node, 'epsilon', 1e-5);
  const rank = x!.rank;
  if (rank === 4) {
    // NHWC puts channels last, where [C] parameters broadcast as they are.
    return [nhwc(tf.batchNorm(toNhwc(inputs[0]!), mean!, variance!, bias!, scale!, eps))];
  }
  const shape = [x!.shape[1] as number, ...new Array<number>(Math.max(rank - 2, 0)).fill(1)];
  const r = (t: tf.Tensor) => tf.reshape(t, shape);
  return [plain(tf.batchNorm(x!, r(mean!), r(variance!), r(bias!), r(scale!), eps))];
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
