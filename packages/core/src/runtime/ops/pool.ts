import * as tf from '@tensorflow/tfjs-core';
import type { Node } from '../../graph/index.js';
import { UnsupportedModelError } from '../../errors/index.js';
import { attrInt, attrInts, attrString } from '../attributes.js';
import type { KernelContext } from '../kernel.js';
import { defaultRegistry } from '../registry.js';
import { nhwc, toNhwc, type RtValue } from '../value.js';

interface PoolGeometry {
  k: [number, number];
  s: [number, number];
  /** [top, bottom, left, right], including the extra bottom/right rows ceil_mode needs. */
  pads: [number, number, number, number];
  /** The ONNX pads alone (count_include_pad counts these, never ceil_mode's extra). */
  onnxPads: [number, number, number, number];
}

function poolGeometry(node: Node, inHW: [number, number]): PoolGeometry {
  const k = attrInts(node, 'kernel_shape') as [number, number] | undefined;
  if (!k || k.length !== 2) throw new UnsupportedModelError(`node '${node.name}' (${node.opType}): only 2-D pooling with kernel_shape is supported`);
  const s = (attrInts(node, 'strides') ?? [1, 1]) as [number, number];
  const d = attrInts(node, 'dilations');
  if (d && (d[0] !== 1 || d[1] !== 1)) throw new UnsupportedModelError(`node '${node.name}' (${node.opType}): dilated pooling is not supported`);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  let p: [number, number, number, number];
  if (autoPad === 'NOTSET') {
    const a = attrInts(node, 'pads') ?? [0, 0, 0, 0];
    p = [a[0], a[2], a[1], a[3]];
  } else if (autoPad === 'VALID') {
    p = [0, 0, 0, 0];
  } else {
    const total = [0, 1].map((i) => Math.max((Math.ceil(inHW[i] / s[i]) - 1) * s[i] + k[i] - inHW[i], 0));
    const lower = (t: number) => (autoPad === 'SAME_LOWER' ? Math.ceil(t / 2) : Math.floor(t / 2));
    p = [lower(total[0]), total[0] - lower(total[0]), lower(total[1]), total[1] - lower(total[1])];
  }
  const pads: [number, number, number, number] = [...p];
  if (attrInt(node, 'ceil_mode', 0) === 1) {
    for (const a of [0, 1]) {
      const span = inHW[a] + p[2 * a] + p[2 * a + 1] - k[a];
      let out = Math.ceil(span / s[a]) + 1;
      // The last window must start inside the input or its leading padding (ONNX/PyTorch rule).
      if ((out - 1) * s[a] >= inHW[a] + p[2 * a]) out--;
      pads[2 * a + 1] += Math.max((out - 1) * s[a] + k[a] - (inHW[a] + p[2 * a] + p[2 * a + 1]), 0);
    }
  }
  return { k, s, pads, onnxPads: p };
}

const hasPad = (p: number[]) => p.some((v) => v !== 0);
const padSpec = (p: number[]): [number, number][] => [[0, 0], [p[0], p[1]], [p[2], p[3]], [0, 0]];

function maxPool(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const x = toNhwc(inputs[0]!) as tf.Tensor4D;
  const g = poolGeometry(ctx.node, [x.shape[1], x.shape[2]]);
  // Padding with -inf makes padded cells never win, on every backend.
  const xp = hasPad(g.pads) ? tf.pad(x, padSpec(g.pads), -3.4e38) : x;
  return [nhwc(tf.maxPool(xp as tf.Tensor4D, g.k, g.s, 'valid'))];
}

function averagePool(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const x = toNhwc(inputs[0]!) as tf.Tensor4D;
  const g = poolGeometry(ctx.node, [x.shape[1], x.shape[2]]);
  if (!hasPad(g.pads)) return [nhwc(tf.avgPool(x, g.k, g.s, 'valid'))];
  const includePad = attrInt(ctx.node, 'count_include_pad', 0) === 1;
  const sum = tf.avgPool(tf.pad(x, padSpec(g.pads)) as tf.Tensor4D, g.k, g.s, 'valid');
  // Divide by the cells each window really covers: all ONNX pads count with count_include_pad, none without.
  const ones = tf.ones([1, x.shape[1], x.shape[2], 1]);
  const counted = includePad ? tf.pad(ones, padSpec(g.onnxPads), 1) : ones;
  const extra = g.pads.map((v, i) => v - (includePad ? g.onnxPads[i] : 0));
  const count = tf.avgPool(tf.pad(counted, padSpec(extra)) as tf.Tensor4D, g.k, g.s, 'valid');
  return [nhwc(tf.div(sum, count))];
}

function globalPool(reduce: (x: tf.Tensor, axes: number[], keep: boolean) => tf.Tensor) {
  return (inputs: (RtValue | undefined)[]): RtValue[] => {
    const x = toNhwc(inputs[0]!);
    return [nhwc(reduce(x, [1, 2], true))];
  };
}

defaultRegistry.register('MaxPool', maxPool);
defaultRegistry.register('AveragePool', averagePool);
defaultRegistry.register('GlobalAveragePool', globalPool(tf.mean));
defaultRegistry.register('GlobalMaxPool', globalPool(tf.max));
