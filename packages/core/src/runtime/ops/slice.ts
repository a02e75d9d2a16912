import * as tf from '@tensorflow/tfjs-core';
import { attrInt, attrInts } from '../attributes.js';
import type { KernelContext } from '../kernel.js';
import { defaultRegistry } from '../registry.js';
import { logicalShape, nhwcAxis, type RtValue } from '../value.js';
import { sliceCoarse } from './coarse-view.js';
import { input, malformed, normAxis, takeEvery } from './common.js';

// Slice and Split work on NHWC activations in place (channel splits in ShuffleNet, Inception...): logical
// axes map to physical ones and the result keeps the input's layout.

const physicalAxis = (v: RtValue, axis: number) => (v.nhwc ? nhwcAxis(axis) : axis);

/** ONNX Slice: starts/ends/axes as attributes before opset 10, as inputs (with steps) from 10. */
function slice(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const { node } = ctx;
  const x = input(node, inputs, 0);
  const shape = logicalShape(x);
  const rank = shape.length;
  const starts = ctx.opset < 10 ? attrInts(node, 'starts') : ctx.readInts(1);
  const ends = ctx.opset < 10 ? attrInts(node, 'ends') : ctx.readInts(2);
  if (!starts || !ends || starts.length !== ends.length) throw malformed(node, 'starts and ends must be given, of equal length');
  const axes = (ctx.opset < 10 ? attrInts(node, 'axes') : ctx.readInts(3)) ?? starts.map((_, i) => i);
  const steps = (ctx.opset < 10 ? undefined : ctx.readInts(4)) ?? starts.map(() => 1);
  const begin = shape.map(() => 0);
  const size = shape.slice();
  const step = shape.map(() => 1);
  axes.forEach((ax, j) => {
    const a = normAxis(ax, rank);
    const dim = shape[a];
    const st = steps[j];
    if (st === 0) throw malformed(node, 'a step is 0');
    // Negative starts/ends count from the end; then both clamp to the axis (INT_MAX means "to the end").
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + dim : v, lo), hi);
    const s = st > 0 ? clamp(starts[j], 0, dim) : clamp(starts[j], 0, dim - 1);
    const e = st > 0 ? clamp(ends[j], 0, dim) : clamp(ends[j], -1, dim - 1);
    const count = Math.max(Math.ceil((e - s) / st), 0);
    // The window from the first taken element to the last, both included; a negative step reverses it.
    const span = count > 0 ? (count - 1) * Math.abs(st) + 1 : 0;
    begin[a] = count === 0 ? 0 : st > 0 ? s : s - span + 1;
    size[a] = span;
    step[a] = st;
  });
  const phys = (arr: number[]) => {
    if (!x.nhwc) return arr;
    const out = arr.slice();
    arr.forEach((v, a) => (out[nhwcAxis(a)] = v));
    return out;
  };
  let t = sliceCoarse(x.t, phys(begin), phys(size), { differentiable: ctx.training });
  if (size.every((d) => d > 0)) {
    step.forEach((st, a) => {
      const p = physicalAxis(x, a);
      if (st < 0) t = tf.reverse(t, p);
      t = takeEvery(t, p, Math.abs(st));
    });
  }
  return [{ t, nhwc: x.nhwc }];
}

/** ONNX Split: sizes as an attribute before opset 13, an input from 13; equal parts when absent. */
function split(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const { node } = ctx;
  const x = input(node, inputs, 0);
  const shape = logicalShape(x);
  const axis = normAxis(attrInt(node, 'axis', 0), shape.length);
  const dim = shape[axis];
  let sizes = ctx.opset >= 13 ? ctx.readInts(1) : attrInts(node, 'split');
  if (!sizes) {
    // Opset 18's num_outputs allows a smaller last part; before, the outputs divide the axis evenly.
    const parts = (ctx.opset >= 18 ? attrInt(node, 'num_outputs') : undefined) ?? node.outputs.length;
    const chunk = Math.ceil(dim / parts);
    sizes = Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(chunk, dim - i * chunk)));
  }
  if (sizes.reduce((a, b) => a + b, 0) !== dim) throw malformed(node, `split sizes [${sizes.join(', ')}] do not add up to the axis size ${dim}`);
  const p = physicalAxis(x, axis);
  // One slice per part on the coarsest view (tf.split slices row by row); empty parts are fine here too.
  let offset = 0;
  const parts = sizes.map((s) => {
    const begin = x.t.shape.map((_, i) => (i === p ? offset : 0));
    const size = x.t.shape.map((d, i) => (i === p ? s : d));
    offset += s;
    return sizes.length === 1 ? tf.clone(x.t) : sliceCoarse(x.t, begin, size, { differentiable: ctx.training });
  });
  return parts.map((t) => ({ t, nhwc: x.nhwc }));
}

defaultRegistry.register('Slice', slice);
defaultRegistry.register('Split', split, { minOpset: 2 });
