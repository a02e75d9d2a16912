import * as tf from '@tensorflow/tfjs-core';
import { attrInt, attrInts } from '../attributes.js';
import type { Kernel } from '../kernel.js';
import type { OpDeclaration } from '../op-declaration.js';
import type { NodeUpgrade } from '../../graph/index.js';
import { logicalShape, nhwcAxis, type RtValue } from '../value.js';
import { sliceCoarse } from './coarse-view.js';
import { input, malformed, normAxis, takeEvery } from './common.js';
import { attributesToInputs } from './upgrades.js';

// Slice and Split work on NHWC activations in place (channel splits in ShuffleNet, Inception...): logical
// axes map to physical ones and the result keeps the input's layout.

const physicalAxis = (v: RtValue, axis: number) => (v.nhwc ? nhwcAxis(axis) : axis);

/** ONNX Slice: starts/ends/axes as attributes before opset 10, as inputs (with steps) from 10. */
const slice =
  (form: 'attributes' | 'inputs'): Kernel =>
  (inputs, ctx) => {
    const { node } = ctx;
    const x = input(node, inputs, 0);
    const shape = logicalShape(x);
    const rank = shape.length;
    const old = form === 'attributes';
    const starts = old ? attrInts(node, 'starts') : ctx.readInts(1);
    const ends = old ? attrInts(node, 'ends') : ctx.readInts(2);
    if (!starts || !ends || starts.length !== ends.length) throw malformed(node, 'starts and ends must be given, of equal length');
    const axes = (old ? attrInts(node, 'axes') : ctx.readInts(3)) ?? starts.map((_, i) => i);
    const steps = (old ? undefined : ctx.readInts(4)) ?? starts.map(() => 1);
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
  };

/**
 * ONNX Split: sizes as an attribute before opset 13, an input from 13; without sizes, as many equal parts as
 * outputs, or from 18 `num_outputs` parts of ceil(axis / num_outputs), the last smaller.
 */
const split =
  (form: 2 | 13 | 18): Kernel =>
  (inputs, ctx) => {
    const { node } = ctx;
    const x = input(node, inputs, 0);
    const shape = logicalShape(x);
    const axis = normAxis(attrInt(node, 'axis', 0), shape.length);
    const dim = shape[axis];
    let sizes = form >= 13 ? ctx.readInts(1) : attrInts(node, 'split');
    if (!sizes) {
      const parts = (form === 18 ? attrInt(node, 'num_outputs') : undefined) ?? node.outputs.length;
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
  };

/** Opset 18 requires num_outputs when no sizes are given; before, the outputs split the axis evenly. */
const numOutputs: NodeUpgrade = (node) => (node.inputs[1] ? node : { ...node, attributes: { ...node.attributes, num_outputs: { type: 'int', value: node.outputs.length } } });

export const SLICE_OPS: readonly OpDeclaration[] = [
  { op: 'Slice', since: 1, cost: 'movement', kernel: slice('attributes') },
  {
    op: 'Slice',
    since: 10,
    cost: 'movement',
    kernel: slice('inputs'),
    upgrade: attributesToInputs([
      { attr: 'starts', as: 'ints' },
      { attr: 'ends', as: 'ints' },
      { attr: 'axes', as: 'ints' },
    ]),
  },
  { op: 'Split', since: 2, cost: 'movement', kernel: split(2) },
  { op: 'Split', since: 13, cost: 'movement', kernel: split(13), upgrade: attributesToInputs([{ attr: 'split', as: 'ints' }]) },
  { op: 'Split', since: 18, cost: 'movement', kernel: split(18), upgrade: numOutputs },
];
