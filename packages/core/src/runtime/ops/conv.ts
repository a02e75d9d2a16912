import * as tf from '@tensorflow/tfjs-core';
import type { Node } from '../../graph/index.js';
import { UnsupportedModelError } from '../../errors/index.js';
import { attrInt, attrInts, attrString } from '../attributes.js';
import { RUNTIME_SETTINGS, type KernelContext } from '../kernel.js';
import { defaultRegistry } from '../registry.js';
import { nhwc, toNhwc, type RtValue } from '../value.js';
import { conv2dTrainable, type Conv2dGeometry } from './conv2d-trainable.js';

/** Whether a training run wants weight gradients (RUNTIME_SETTINGS.weightGradients, default yes). */
export function weightGradients(ctx: KernelContext): boolean {
  return ctx.settings[RUNTIME_SETTINGS.weightGradients] !== false;
}

/** Strides, explicit pads and dilations of an ONNX Conv-like node (2-D), resolving auto_pad. */
export function convGeometry(node: Node, inHW: [number, number], kHW: [number, number]): Conv2dGeometry {
  const strides = (attrInts(node, 'strides') ?? [1, 1]) as [number, number];
  const dilations = (attrInts(node, 'dilations') ?? [1, 1]) as [number, number];
  if (strides.length !== 2 || dilations.length !== 2) {
    throw new UnsupportedModelError(`node '${node.name}' (${node.opType}): only 2-D convolutions are supported`);
  }
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  let pads: [number, number, number, number];
  if (autoPad === 'NOTSET') {
    const p = attrInts(node, 'pads') ?? [0, 0, 0, 0];
    pads = [p[0], p[2], p[1], p[3]]; // ONNX: [top, left, bottom, right]
  } else if (autoPad === 'VALID') {
    pads = [0, 0, 0, 0];
  } else {
    const total = [0, 1].map((a) => {
      const out = Math.ceil(inHW[a] / strides[a]);
      return Math.max((out - 1) * strides[a] + (kHW[a] - 1) * dilations[a] + 1 - inHW[a], 0);
    });
    const lower = (t: number) => (autoPad === 'SAME_LOWER' ? Math.ceil(t / 2) : Math.floor(t / 2));
    pads = [lower(total[0]), total[0] - lower(total[0]), lower(total[1]), total[1] - lower(total[1])];
  }
  return { strides, pads, dilations };
}

/**
 * ONNX Conv on an NHWC input with an ONNX-layout weight [cout, cin/group, kh, kw]: plain, depthwise
 * (group = cin = cout/multiplier) and grouped convolutions.
 */
export function convNhwc(node: Node, x: tf.Tensor4D, w: tf.Tensor, bias?: tf.Tensor, filterGrad = true): tf.Tensor4D {
  if (w.rank !== 4) throw new UnsupportedModelError(`node '${node.name}' (${node.opType}): only 2-D convolutions are supported (weight rank ${w.rank})`);
  const group = attrInt(node, 'group', 1);
  const [cout, cinPerGroup, kh, kw] = w.shape;
  const cin = x.shape[3];
  if (cinPerGroup * group !== cin) {
    throw new UnsupportedModelError(`node '${node.name}' (${node.opType}): input has ${cin} channels, the weight expects ${cinPerGroup * group}`);
  }
  const g = convGeometry(node, [x.shape[1], x.shape[2]], [kh, kw]);
  const wHwio = tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D; // [kh, kw, cin/group, cout]
  let y: tf.Tensor4D;
  if (group === 1) {
    return conv2dTrainable(x, wHwio, g, bias, filterGrad);
  } else if (cinPerGroup === 1 && cout % cin === 0) {
    // Depthwise: tfjs wants [kh, kw, cin, multiplier]; ONNX orders output channels group-major.
    const f = tf.reshape(wHwio, [kh, kw, cin, cout / cin]) as tf.Tensor4D;
    const xp = tf.pad(x, [[0, 0], [g.pads[0], g.pads[1]], [g.pads[2], g.pads[3]], [0, 0]]);
    y = tf.depthwiseConv2d(xp, f, g.strides, 'valid', 'NHWC', g.dilations);
  } else {
    const xs = tf.split(x, group, 3);
    const ws = tf.split(wHwio, group, 3);
    y = tf.concat(xs.map((xi, i) => conv2dTrainable(xi as tf.Tensor4D, ws[i] as tf.Tensor4D, g, undefined, filterGrad)), 3) as tf.Tensor4D;
  }
  return bias ? tf.add(y, bias) : y;
}

function conv(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const [x, w, b] = inputs;
  if (!x || !w) throw new UnsupportedModelError(`node '${ctx.node.name}' (Conv): missing input or weight`);
  return [nhwc(convNhwc(ctx.node, toNhwc(x) as tf.Tensor4D, w.t, b?.t, weightGradients(ctx)))];
}

defaultRegistry.register('Conv', conv);
