import * as tf from '@tensorflow/tfjs-core';
import { UnsupportedModelError } from '../../errors/index.js';
import { attrInt, attrInts } from '../attributes.js';
import type { KernelContext } from '../kernel.js';
import { defaultRegistry } from '../registry.js';
import { toTfTensor } from '../tensor-convert.js';
import { logicalShape, nhwc, nhwcAxis, plain, toLogical, type RtValue } from '../value.js';

const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

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

function reshape(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const x = inputs[0]!;
  const inShape = logicalShape(x);
  const spec = ctx.opset < 5 ? attrInts(ctx.node, 'shape') : ctx.readInts(1);
  if (!spec) throw new UnsupportedModelError(`node '${ctx.node.name}' (Reshape): no target shape`);
  const allowZero = attrInt(ctx.node, 'allowzero', 0) === 1;
  const target = spec.map((d, i) => (d === 0 && !allowZero ? inShape[i] : d));
  return [plain(tf.reshape(logicalCheap(x), target))];
}

function transpose([x]: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const t = toLogical(x!);
  const perm = attrInts(ctx.node, 'perm') ?? t.shape.map((_, i) => t.rank - 1 - i);
  return [plain(tf.transpose(t, perm))];
}

function axesOf(ctx: KernelContext, inputIndex: number): number[] | undefined {
  return ctx.opset >= 13 ? ctx.readInts(inputIndex) : attrInts(ctx.node, 'axes');
}

function unsqueeze(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const t = toLogical(inputs[0]!);
  const axes = axesOf(ctx, 1) ?? [];
  const rank = t.rank + axes.length;
  const sorted = axes.map((a) => norm(a, rank)).sort((a, b) => a - b);
  const shape = t.shape.slice();
  for (const a of sorted) shape.splice(a, 0, 1);
  return [plain(tf.reshape(t, shape))];
}

function squeeze(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const x = inputs[0]!;
  const shape = logicalShape(x);
  const axes = (axesOf(ctx, 1) ?? shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0)).map((a) => norm(a, shape.length));
  return [plain(tf.reshape(logicalCheap(x), shape.filter((_, i) => !axes.includes(i))))];
}

function concat(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const xs = inputs.filter((v): v is RtValue => !!v);
  const rank = logicalShape(xs[0]).length;
  const axis = norm(attrInt(ctx.node, 'axis', 1), rank);
  // Concatenating channels of NHWC activations is common (DenseNet, Inception): stay in NHWC.
  if (rank === 4 && xs.every((v) => v.nhwc)) return [nhwc(tf.concat(xs.map((v) => v.t), nhwcAxis(axis)))];
  return [plain(tf.concat(xs.map(toLogical), axis))];
}

function shapeOf([x]: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  let s = logicalShape(x!);
  const start = attrInt(ctx.node, 'start');
  const end = attrInt(ctx.node, 'end');
  if (start !== undefined || end !== undefined) s = s.slice(start ?? 0, end ?? s.length);
  return [plain(tf.tensor1d(s, 'int32'))];
}

function gather(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const data = toLogical(inputs[0]!);
  const axis = norm(attrInt(ctx.node, 'axis', 0), data.rank);
  const idx = toLogical(inputs[1]!);
  // Negative indices count from the end in ONNX.
  const fixed = tf.where(tf.less(idx, 0), tf.add(idx, data.shape[axis]), idx);
  return [plain(tf.gather(data, tf.cast(fixed, 'int32'), axis))];
}

function constant(_inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const a = ctx.node.attributes;
  const v = a.value ?? a.value_float ?? a.value_floats ?? a.value_int ?? a.value_ints;
  if (!v) throw new UnsupportedModelError(`node '${ctx.node.name}' (Constant): no supported value attribute`);
  switch (v.type) {
    case 'tensor':
      return [plain(toTfTensor(v.value))];
    case 'float':
      return [plain(tf.scalar(v.value, 'float32'))];
    case 'floats':
      return [plain(tf.tensor1d(v.value, 'float32'))];
    case 'int':
      return [plain(tf.scalar(v.value, 'int32'))];
    case 'ints':
      return [plain(tf.tensor1d(v.value, 'int32'))];
    default:
      throw new UnsupportedModelError(`node '${ctx.node.name}' (Constant): value of type ${v.type} is not supported`);
  }
}

defaultRegistry.register('Flatten', flatten);
defaultRegistry.register('Reshape', reshape);
defaultRegistry.register('Transpose', transpose);
defaultRegistry.register('Unsqueeze', unsqueeze);
defaultRegistry.register('Squeeze', squeeze);
defaultRegistry.register('Concat', concat);
defaultRegistry.register('Shape', shapeOf);
defaultRegistry.register('Gather', gather);
defaultRegistry.register('Constant', constant);
