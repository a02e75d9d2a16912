import * as tf from '@tensorflow/tfjs-core';
import { attrFloat, attrInts, attrString } from '../attributes.js';
import type { Kernel } from '../kernel.js';
import type { OpDeclaration } from '../op-declaration.js';
import { logicalShape, nhwcAxis } from '../value.js';
import { input, malformed, normAxis, unsupported } from './common.js';
import { attributesToInputs, renameAttribute } from './upgrades.js';

/**
 * ONNX Pad, modes constant/reflect/edge/wrap. Pads are the `paddings` attribute in opset 1, `pads` (and
 * `value`) attributes in 2 to 10, inputs from 11 (an optional `axes` input from 18, mode wrap from 19: both
 * new options, so the same form). Negative pads crop. An NHWC input is padded in place.
 */
function pad(form: 1 | 2 | 11): Kernel {
  return (inputs, ctx) => {
    const { node } = ctx;
    const x = input(node, inputs, 0);
    const shape = logicalShape(x);
    const rank = shape.length;
    const mode = attrString(node, 'mode', 'constant');
    const pads = form === 11 ? ctx.readInts(1) : attrInts(node, form === 1 ? 'paddings' : 'pads');
    const value = (form === 11 ? ctx.readFloats(2)?.[0] : attrFloat(node, 'value')) ?? 0;
    const axes = form === 11 ? ctx.readInts(3) : undefined;
    if (!pads) throw malformed(node, 'no pads');
    const ax = axes?.map((a) => normAxis(a, rank)) ?? shape.map((_, i) => i);
    if (pads.length !== 2 * ax.length) throw malformed(node, `${pads.length} pads for ${ax.length} axes`);
    // [begin, end] per physical axis.
    const per: [number, number][] = shape.map(() => [0, 0]);
    ax.forEach((a, j) => (per[x.nhwc ? nhwcAxis(a) : a] = [pads[j], pads[j + ax.length]]));
    let t = x.t;
    if (per.some(([b, e]) => b < 0 || e < 0)) {
      const begin = per.map(([b]) => Math.max(-b, 0));
      t = tf.slice(
        t,
        begin,
        t.shape.map((d, i) => d - begin[i] - Math.max(-per[i][1], 0)),
      );
    }
    const grow = per.map(([b, e]) => [Math.max(b, 0), Math.max(e, 0)] as [number, number]);
    if (grow.every(([b, e]) => b === 0 && e === 0)) return [{ t: t === x.t ? tf.clone(t) : t, nhwc: x.nhwc }];
    switch (mode) {
      case 'constant':
        return [{ t: tf.pad(t, grow, value), nhwc: x.nhwc }];
      case 'reflect':
        if (grow.some(([b, e], i) => Math.max(b, e) >= t.shape[i])) throw unsupported(node, 'reflect padding as large as the axis is not supported');
        return [{ t: tf.mirrorPad(t, grow, 'reflect'), nhwc: x.nhwc }];
      case 'edge':
        // Repeat the border cells.
        return [
          {
            t: concatAround(t, grow, (src, i, side, n) =>
              tf.tile(
                cells(src, i, side === 'begin' ? 0 : src.shape[i] - 1, 1),
                src.shape.map((_, k) => (k === i ? n : 1)),
              ),
            ),
            nhwc: x.nhwc,
          },
        ];
      case 'wrap':
        // The other end's cells: the axis continues periodically.
        if (grow.some(([b, e], i) => Math.max(b, e) > t.shape[i])) throw unsupported(node, 'wrap padding larger than the axis is not supported');
        return [{ t: concatAround(t, grow, (src, i, side, n) => cells(src, i, side === 'begin' ? src.shape[i] - n : 0, n)), nhwc: x.nhwc }];
      default:
        throw unsupported(node, `mode '${mode}' is not supported (constant, reflect, edge and wrap are)`);
    }
  };
}

/** `n` cells of `t` along axis `i` from `at`. */
function cells(t: tf.Tensor, i: number, at: number, n: number): tf.Tensor {
  return tf.slice(
    t,
    t.shape.map((_, k) => (k === i ? at : 0)),
    t.shape.map((d, k) => (k === i ? n : d)),
  );
}

/**
 * `t` with `fill(src, axis, side, n)` concatenated before and after it along each axis that grows, one axis
 * after the other, `src` being the tensor grown so far (slices and tiles: tf.gather's gradient needs a kernel
 * tfjs-wasm lacks).
 */
function concatAround(t: tf.Tensor, grow: [number, number][], fill: (src: tf.Tensor, axis: number, side: 'begin' | 'end', n: number) => tf.Tensor): tf.Tensor {
  let out = t;
  grow.forEach(([b, e], i) => {
    if (!b && !e) return;
    const src = out;
    out = tf.concat([...(b ? [fill(src, i, 'begin', b)] : []), src, ...(e ? [fill(src, i, 'end', e)] : [])], i);
  });
  return out;
}

export const PAD_OPS: readonly OpDeclaration[] = [
  { op: 'Pad', since: 1, cost: 'movement', kernel: pad(1) },
  { op: 'Pad', since: 2, cost: 'movement', kernel: pad(2), upgrade: (node) => renameAttribute(node, 'paddings', 'pads') },
  {
    op: 'Pad',
    since: 11,
    cost: 'movement',
    kernel: pad(11),
    upgrade: attributesToInputs([
      { attr: 'pads', as: 'ints' },
      { attr: 'value', as: 'float' },
    ]),
  },
];
