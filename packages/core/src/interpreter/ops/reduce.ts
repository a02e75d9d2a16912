import * as tf from '@tensorflow/tfjs-core';
import { attrInt, attrInts } from '../attributes.js';
import type { Kernel } from '../kernel.js';
import type { OpDeclaration } from '../op-declaration.js';
import { NCHW_TO_NHWC, logicalShape, nhwc, nhwcAxis, plain, toLogical } from '../value.js';
import { input, normAxis } from './common.js';
import { axesToInput } from './upgrades.js';

type Reducer = (x: tf.Tensor, axes: number[], keep: boolean) => tf.Tensor;

/**
 * The Reduce* ops: `axes` is an attribute until the opset where it became an input (13 for ReduceSum, 18
 * for the others); no axes means all of them, or none with noop_with_empty_axes. NHWC inputs are reduced
 * in place when the result's layout allows.
 */
function reduce(fn: Reducer, axes: 'attribute' | 'input'): Kernel {
  return (inputs, ctx) => {
    const { node } = ctx;
    const x = input(node, inputs, 0);
    const rank = logicalShape(x).length;
    const keep = attrInt(node, 'keepdims', 1) === 1;
    const fromInput = axes === 'input';
    const given = fromInput ? ctx.readInts(1) : attrInts(node, 'axes');
    // No axes with noop_with_empty_axes: nothing is reduced, but the op's element-wise steps still apply
    // (ReduceSumSquare squares, ReduceL1 takes |x|...), as ONNX specifies and ONNX Runtime computes.
    if (!given?.length && fromInput && attrInt(node, 'noop_with_empty_axes', 0) === 1) return [{ t: fn(x.t, [], true), nhwc: x.nhwc }];
    const over = given?.length ? [...new Set(given.map((a) => normAxis(a, rank)))].sort((a, b) => a - b) : [...Array(rank).keys()];
    if (x.nhwc) {
      // With keepdims the result is still NHWC; without, it is plain if the kept axes are in logical order.
      // Physical axis p holds logical axis NCHW_TO_NHWC[p].
      const kept = NCHW_TO_NHWC.filter((a) => !over.includes(a));
      const y = keep || kept.every((a, i) => i === 0 || kept[i - 1] < a) ? fn(x.t, over.map(nhwcAxis), keep) : undefined;
      if (y) return [keep ? nhwc(y) : plain(y)];
    }
    return [plain(fn(toLogical(x), over, keep))];
  };
}

const sumOf =
  (f: (t: tf.Tensor) => tf.Tensor): Reducer =>
  (x, axes, keep) =>
    tf.sum(f(x), axes, keep);
/** ReduceMax and ReduceMin of booleans (opset 20): any and all. */
const orBool =
  (numeric: Reducer, bool: Reducer): Reducer =>
  (x, axes, keep) =>
    x.dtype === 'bool' ? bool(x, axes, keep) : numeric(x, axes, keep);

/** A Reduce op in its two forms: axes as an attribute, then (from `axesInputFrom`) as an input. */
function reduceForms(op: string, fn: Reducer, axesInputFrom = 18): OpDeclaration[] {
  return [
    { op, since: 1, cost: 'reduction', kernel: reduce(fn, 'attribute') },
    { op, since: axesInputFrom, cost: 'reduction', kernel: reduce(fn, 'input'), upgrade: axesToInput },
  ];
}

export const REDUCE_OPS: readonly OpDeclaration[] = [
  ...reduceForms('ReduceMean', tf.mean),
  ...reduceForms('ReduceSum', tf.sum, 13),
  ...reduceForms('ReduceMax', orBool(tf.max, tf.any)),
  ...reduceForms('ReduceMin', orBool(tf.min, tf.all)),
  ...reduceForms('ReduceProd', tf.prod),
  ...reduceForms('ReduceSumSquare', sumOf(tf.square)),
  ...reduceForms('ReduceL1', sumOf(tf.abs)),
  ...reduceForms('ReduceL2', (x, axes, keep) => tf.sqrt(tf.sum(tf.square(x), axes, keep))),
  ...reduceForms('ReduceLogSum', (x, axes, keep) => tf.log(tf.sum(x, axes, keep))),
  ...reduceForms('ReduceLogSumExp', tf.logSumExp),
];
