import * as tf from '@tensorflow/tfjs-core';
import { attrInt, attrInts } from '../attributes.js';
import type { Kernel } from '../kernel.js';
import { defaultRegistry } from '../registry.js';
import { NCHW_TO_NHWC, logicalShape, nhwc, nhwcAxis, plain, toLogical } from '../value.js';
import { input, normAxis } from './common.js';

type Reducer = (x: tf.Tensor, axes: number[], keep: boolean) => tf.Tensor;

/**
 * The Reduce* ops: `axes` is an attribute until the opset where it became an input (13 for ReduceSum, 18
 * for the others); no axes means all of them, or none with noop_with_empty_axes. NHWC inputs are reduced
 * in place when the result's layout allows.
 */
function reduce(fn: Reducer, axesInputFrom: number): Kernel {
  return (inputs, ctx) => {
    const { node } = ctx;
    const x = input(node, inputs, 0);
    const rank = logicalShape(x).length;
    const keep = attrInt(node, 'keepdims', 1) === 1;
    const fromInput = ctx.opset >= axesInputFrom;
    const given = fromInput ? ctx.readInts(1) : attrInts(node, 'axes');
    if (!given?.length && fromInput && attrInt(node, 'noop_with_empty_axes', 0) === 1) return [{ t: tf.clone(x.t), nhwc: x.nhwc }];
    const axes = given?.length ? [...new Set(given.map((a) => normAxis(a, rank)))].sort((a, b) => a - b) : [...Array(rank).keys()];
    if (x.nhwc) {
      // With keepdims the result is still NHWC; without, it is plain if the kept axes are in logical order.
      // Physical axis p holds logical axis NCHW_TO_NHWC[p].
      const kept = NCHW_TO_NHWC.filter((a) => !axes.includes(a));
      const y = keep || kept.every((a, i) => i === 0 || kept[i - 1] < a) ? fn(x.t, axes.map(nhwcAxis), keep) : undefined;
      if (y) return [keep ? nhwc(y) : plain(y)];
    }
    return [plain(fn(toLogical(x), axes, keep))];
  };
}

const sumOf = (f: (t: tf.Tensor) => tf.Tensor): Reducer => (x, axes, keep) => tf.sum(f(x), axes, keep);

defaultRegistry.register('ReduceMean', reduce(tf.mean, 18));
defaultRegistry.register('ReduceSum', reduce(tf.sum, 13));
defaultRegistry.register('ReduceMax', reduce(tf.max, 18));
defaultRegistry.register('ReduceMin', reduce(tf.min, 18));
defaultRegistry.register('ReduceProd', reduce(tf.prod, 18));
defaultRegistry.register('ReduceSumSquare', reduce(sumOf(tf.square), 18));
defaultRegistry.register('ReduceL1', reduce(sumOf(tf.abs), 18));
defaultRegistry.register('ReduceL2', reduce((x, axes, keep) => tf.sqrt(tf.sum(tf.square(x), axes, keep)), 18));
defaultRegistry.register('ReduceLogSum', reduce((x, axes, keep) => tf.log(tf.sum(x, axes, keep)), 18));
defaultRegistry.register('ReduceLogSumExp', reduce(tf.logSumExp, 18));
