import * as tf from '@tensorflow/tfjs-core';
import { attrInt, attrInts } from '../attributes.js';
import type { Kernel, KernelContext } from '../kernel.js';
import type { OpDeclaration } from '../op-declaration.js';
import { NHWC_TO_NCHW, logicalShape, nhwc, nhwcAxis, plain, toLogical, type RtValue } from '../value.js';
import { customGrad } from '../custom-grad.js';
import { input, malformed, normAxis as norm } from './common.js';
import { shapeVector } from '../shape-folding.js';
import { concatCoarse, sliceCoarse, transposeCoarse } from './coarse-view.js';
import { attributesToInputs, axesToInput } from './upgrades.js';

/** A rank-4 NHWC value whose spatial dims are 1 has the same memory order as NCHW: no transpose needed. */
function logicalCheap(v: RtValue): tf.Tensor {
  if (v.nhwc && v.t.shape[1] === 1 && v.t.shape[2] === 1) return tf.reshape(v.t, logicalShape(v));
  return toLogical(v);
}

function flatten([x]: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const shape = logicalShape(x!);
  const axis = norm(attrInt(ctx.node, 'axis', 1), shape.length);
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  return [plain(tf.reshape(logicalCheap(x!), [outer, -1]))];
}

/** Reshape's target: the `shape` attribute before opset 5, an input from 5. */
const reshape =
  (form: 1 | 5): Kernel =>
  (inputs, ctx) => {
    const x = inputs[0]!;
    const inShape = logicalShape(x);
    const spec = form === 1 ? attrInts(ctx.node, 'shape') : ctx.readInts(1);
    if (!spec) throw malformed(ctx.node, 'no target shape');
    const allowZero = attrInt(ctx.node, 'allowzero', 0) === 1;
    const target = spec.map((d, i) => (d === 0 && !allowZero ? inShape[i] : d));
    return [plain(tf.reshape(logicalCheap(x), target))];
  };

function transpose([x]: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const rank = x!.t.rank;
  const perm = attrInts(ctx.node, 'perm') ?? x!.t.shape.map((_, i) => rank - 1 - i);
  // From NHWC, one transpose composing the layout change with the op's (ShuffleNet's channel shuffle
  // and NCHW outputs land here).
  return [plain(transposeCoarse(x!.t, x!.nhwc ? perm.map((p) => NHWC_TO_NCHW[p]) : perm))];
}

type AxesForm = 'attribute' | 'input';

/** Squeeze's and Unsqueeze's axes: an attribute before opset 13, input 1 from 13. */
function axesOf(ctx: KernelContext, form: AxesForm): number[] | undefined {
  return form === 'input' ? ctx.readInts(1) : attrInts(ctx.node, 'axes');
}

const unsqueeze =
  (form: AxesForm): Kernel =>
  (inputs, ctx) => {
    const t = toLogical(inputs[0]!);
    const axes = axesOf(ctx, form) ?? [];
    const rank = t.rank + axes.length;
    const sorted = axes.map((a) => norm(a, rank)).sort((a, b) => a - b);
    const shape = t.shape.slice();
    for (const a of sorted) shape.splice(a, 0, 1);
    return [plain(tf.reshape(t, shape))];
  };

const squeeze =
  (form: AxesForm): Kernel =>
  (inputs, ctx) => {
    const x = inputs[0]!;
    const shape = logicalShape(x);
    const axes = (axesOf(ctx, form) ?? shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0)).map((a) => norm(a, shape.length));
    return [
      plain(
        tf.reshape(
          logicalCheap(x),
          shape.filter((_, i) => !axes.includes(i)),
        ),
      ),
    ];
  };

function concat(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const xs = inputs.filter((v): v is RtValue => !!v);
  const rank = logicalShape(xs[0]).length;
  const axis = norm(attrInt(ctx.node, 'axis', 1), rank);
  // Concatenating channels of NHWC activations is common (DenseNet, Inception): stay in NHWC.
  const opts = { differentiable: ctx.training };
  if (rank === 4 && xs.every((v) => v.nhwc))
    return [
      nhwc(
        concatCoarse(
          xs.map((v) => v.t),
          nhwcAxis(axis),
          opts,
        ),
      ),
    ];
  return [plain(concatCoarse(xs.map(toLogical), axis, opts))];
}

function shapeOf([x]: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  return [plain(tf.tensor1d(shapeVector(ctx.node, logicalShape(x!)), 'int32'))];
}

/** Size: the number of elements, a scalar (int64 in ONNX, int32 here as every integer). */
function size([x]: (RtValue | undefined)[]): RtValue[] {
  return [plain(tf.scalar(x!.t.size, 'int32'))];
}

function gather(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const data = toLogical(inputs[0]!);
  const axis = norm(attrInt(ctx.node, 'axis', 0), data.rank);
  const idx = toLogical(inputs[1]!);
  if (idx.rank === 0) {
    // One index (a class token, the query of a qkv split): a slice, faster than tfjs-wasm's gather (docs/architecture.md).
    const at = ctx.readInts(1)![0];
    const begin = data.shape.map((_, i) => (i === axis ? (at < 0 ? at + data.shape[axis] : at) : 0));
    const size = data.shape.map((d, i) => (i === axis ? 1 : d));
    return [
      plain(
        tf.reshape(
          sliceCoarse(data, begin, size, { differentiable: ctx.training }),
          data.shape.filter((_, i) => i !== axis),
        ),
      ),
    ];
  }
  // Negative indices count from the end in ONNX. Stay in int32: tfjs-wasm's Select misreads mixed types.
  const i32 = idx.dtype === 'int32' ? idx : tf.cast(idx, 'int32');
  const fixed = tf.where(tf.less(i32, 0), tf.add(i32, tf.scalar(data.shape[axis], 'int32')), i32);
  return [plain(ctx.training && (ctx.needsGradient?.(0) ?? true) ? trainableGather(data, fixed, axis) : tf.gather(data, fixed, axis))];
}

/**
 * tf.gather with a gradient the wasm backend can compute: tfjs's scatters with UnsortedSegmentSum, which
 * tfjs-wasm lacks. The data's gradient sums the output's rows into the rows they came from, a product with
 * the indices' one-hot matrix (small in a transformer: the qkv split, a class token, an embedding table).
 */
function trainableGather(data: tf.Tensor, indices: tf.Tensor, axis: number): tf.Tensor {
  const shape = data.shape;
  const f = customGrad<[tf.Tensor]>(([d], save) => {
    // Saved: tensors the forward pass made are freed when it ends (tf.grads runs it in a tidy scope).
    save([indices]);
    return { value: tf.gather(d, indices, axis), gradFunc: (dy, [idx]) => [scatterRows(dy, idx, shape, axis)] };
  });
  return f(data);
}

/** The gradient of a gather: each row of `dy` added into the row of `shape` along `axis` that it came from. */
function scatterRows(dy: tf.Tensor, indices: tf.Tensor, shape: number[], axis: number): tf.Tensor {
  const n = shape[axis];
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const m = indices.size;
  // One-hot as a comparison: tfjs-wasm's OneHot writes int32 bits whatever the dtype asked for.
  const hot = tf.cast(tf.equal(tf.reshape(indices, [m, 1]), tf.range(0, n, 1, 'int32')), 'float32');
  // dy as [outer, m, inner] → [m, outer·inner]; hotᵀ · that = [n, outer·inner] → [outer, n, inner].
  const rows = outer === 1 ? tf.reshape(dy, [m, inner]) : tf.reshape(tf.transpose(tf.reshape(dy, [outer, m, inner]), [1, 0, 2]), [m, outer * inner]);
  const summed = tf.matMul(hot, rows, true, false);
  const back = outer === 1 ? summed : tf.transpose(tf.reshape(summed, [n, outer, inner]), [1, 0, 2]);
  return tf.reshape(back, shape);
}

/** Expand: numpy broadcasting of the input to a shape (which may itself broadcast against the input). */
function expand(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const t = toLogical(input(ctx.node, inputs, 0));
  const spec = ctx.readInts(1);
  if (!spec) throw malformed(ctx.node, 'no shape input');
  const rank = Math.max(spec.length, t.rank);
  const pad = (s: number[]) => [...new Array<number>(rank - s.length).fill(1), ...s];
  const a = pad(t.shape);
  const b = pad(spec);
  const out = a.map((d, i) => (d === 1 ? b[i] : d));
  return [plain(tf.broadcastTo(tf.reshape(t, a), out))];
}

export const SHAPE_OPS: readonly OpDeclaration[] = [
  { op: 'Flatten', since: 1, cost: 'movement', kernel: flatten },
  { op: 'Reshape', since: 1, cost: 'movement', kernel: reshape(1) },
  { op: 'Reshape', since: 5, cost: 'movement', kernel: reshape(5), upgrade: attributesToInputs([{ attr: 'shape', as: 'ints' }]) },
  { op: 'Transpose', since: 1, cost: 'movement', kernel: transpose },
  { op: 'Unsqueeze', since: 1, cost: 'movement', kernel: unsqueeze('attribute') },
  { op: 'Unsqueeze', since: 13, cost: 'movement', kernel: unsqueeze('input'), upgrade: axesToInput },
  { op: 'Squeeze', since: 1, cost: 'movement', kernel: squeeze('attribute') },
  { op: 'Squeeze', since: 13, cost: 'movement', kernel: squeeze('input'), upgrade: axesToInput },
  { op: 'Concat', since: 1, cost: 'movement', kernel: concat },
  { op: 'Shape', since: 1, cost: 'movement', kernel: shapeOf },
  { op: 'Size', since: 1, cost: 'movement', kernel: size },
  { op: 'Gather', since: 1, cost: 'movement', kernel: gather },
  { op: 'Expand', since: 8, cost: 'movement', kernel: expand },
];
