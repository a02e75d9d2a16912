import * as tf from '@tensorflow/tfjs-core';
import { attrFloat, attrInts, attrString } from '../attributes.js';
import type { KernelContext } from '../kernel.js';
import { defaultRegistry } from '../registry.js';
import { logicalShape, nhwcAxis, type RtValue } from '../value.js';
import { input, malformed, normAxis, unsupported } from './common.js';

/**
 * ONNX Pad, modes constant/reflect/edge. Pads are the `paddings` attribute in opset 1, `pads` (and `value`)
 * attributes to opset 10, inputs from 11 (with `axes` from 18). Negative pads crop. An NHWC input is padded
 * in place.
 */
function pad(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const { node } = ctx;
  const x = input(node, inputs, 0);
  const shape = logicalShape(x);
  const rank = shape.length;
  const mode = attrString(node, 'mode', 'constant');
  let pads: number[] | undefined;
  let value = 0;
  let axes: number[] | undefined;
  if (ctx.opset < 11) {
    pads = attrInts(node, ctx.opset < 2 ? 'paddings' : 'pads');
    value = attrFloat(node, 'value', 0);
  } else {
    pads = ctx.readInts(1);
    value = ctx.readFloats(2)?.[0] ?? 0;
    if (ctx.opset >= 18) axes = ctx.readInts(3);
  }
  if (!pads) throw malformed(node, 'no pads');
  const ax = axes?.map((a) => normAxis(a, rank)) ?? shape.map((_, i) => i);
  if (pads.length !== 2 * ax.length) throw malformed(node, `${pads.length} pads for ${ax.length} axes`);
  // [begin, end] per physical axis.
  const per: [number, number][] = shape.map(() => [0, 0]);
  ax.forEach((a, j) => (per[x.nhwc ? nhwcAxis(a) : a] = [pads[j], pads[j + ax.length]]));
  let t = x.t;
  if (per.some(([b, e]) => b < 0 || e < 0)) {
    const begin = per.map(([b]) => Math.max(-b, 0));
    t = tf.slice(t, begin, t.shape.map((d, i) => d - begin[i] - Math.max(-per[i][1], 0)));
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
      // Repeat the border cells: tiled slices (tf.gather's gradient needs a kernel tfjs-wasm lacks).
      grow.forEach(([b, e], i) => {
        if (!b && !e) return;
        const cell = (at: number, times: number) => {
          const begin = t.shape.map((_, k) => (k === i ? at : 0));
          const size = t.shape.map((d, k) => (k === i ? 1 : d));
          return tf.tile(tf.slice(t, begin, size), t.shape.map((_, k) => (k === i ? times : 1)));
        };
        t = tf.concat([...(b ? [cell(0, b)] : []), t, ...(e ? [cell(t.shape[i] - 1, e)] : [])], i);
      });
      return [{ t, nhwc: x.nhwc }];
    default:
      throw unsupported(node, `mode '${mode}' is not supported (constant, reflect and edge are)`);
  }
}

defaultRegistry.register('Pad', pad);
