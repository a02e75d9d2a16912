import * as tf from '@tensorflow/tfjs-core';
import type { Node } from '../../graph/index.js';
import { attrInt } from '../attributes.js';
import { RUNTIME_SETTINGS, type KernelContext } from '../kernel.js';
import type { OpDeclaration } from '../op-declaration.js';
import { nhwc, plain, toLogical, toNhwc, type RtValue } from '../value.js';
import { input, malformed, takeEvery, unsupported } from './common.js';
import { nativeConvOnnxWeights } from '../native/native-grads.js';
import { conv2dTrainable, depthwiseConv2dTrainable, groupedConv2dTrainable, onnxLayoutTrainable, type Conv2dGeometry, type FusedActivation } from './conv2d-trainable.js';
import { explicitPads, lift1d, spatialAttrs, type SpatialAttrs } from './spatial.js';

/** Whether a training run wants weight gradients (RUNTIME_SETTINGS.weightGradients, default yes). */
export function weightGradients(ctx: KernelContext): boolean {
  return ctx.settings[RUNTIME_SETTINGS.weightGradients] !== false;
}

/** Strides, explicit pads and dilations of an ONNX Conv-like node (2-D), resolving auto_pad. */
export function convGeometry(node: Node, inHW: [number, number], kHW: [number, number]): Conv2dGeometry {
  return geometry2d(spatialAttrs(node, 2), inHW, kHW);
}

function geometry2d(a: SpatialAttrs, inHW: [number, number], kHW: [number, number]): Conv2dGeometry {
  const [[pt, pb], [pl, pr]] = explicitPads(a, inHW, kHW);
  return { strides: a.strides as [number, number], pads: [pt, pb, pl, pr], dilations: a.dilations as [number, number] };
}

/**
 * ONNX Conv on an NHWC input with an ONNX-layout weight [cout, cin/group, kh, kw]: plain, depthwise
 * (group = cin = cout/multiplier) and grouped convolutions.
 */
export function convNhwc(node: Node, x: tf.Tensor4D, w: tf.Tensor, bias?: tf.Tensor, filterGrad = true, activation?: FusedActivation, inputGrad = true): tf.Tensor4D {
  if (w.rank !== 4) throw unsupported(node, `only 2-D convolutions run on NHWC activations (weight rank ${w.rank})`);
  return conv2d(node, spatialAttrs(node, 2), x, w as tf.Tensor4D, bias, filterGrad, activation, inputGrad);
}

/** `inputGrad` false: the input's gradient is not needed (zeros; plain convs skip its backward-data pass). */
function conv2d(
  node: Node,
  a: SpatialAttrs,
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  bias: tf.Tensor | undefined,
  filterGrad: boolean,
  activation?: FusedActivation,
  inputGrad = true,
): tf.Tensor4D {
  const group = attrInt(node, 'group', 1);
  const [cout, cinPerGroup, kh, kw] = w.shape;
  const cin = x.shape[3];
  if (cinPerGroup * group !== cin) throw malformed(node, `input has ${cin} channels, the weight expects ${cinPerGroup * group}`);
  const g = geometry2d(a, [x.shape[1], x.shape[2]], [kh, kw]);
  // Inference with the native (oneDNN) kernels: one call on the ONNX-layout weight, whatever the groups,
  // stride and dilation (no per-run weight transpose, split or subsampling).
  if (!tf.engine().isTapeOn()) {
    const y = nativeConvOnnxWeights(x, w, g, group, bias, activation);
    if (y) return y;
  }
  // tfjs convolutions take a stride or a dilation, not both: run those at stride 1 and subsample.
  const subsample = g.strides.some((s) => s > 1) && g.dilations.some((d) => d > 1);
  const run: Conv2dGeometry = subsample ? { ...g, strides: [1, 1] } : g;
  // Training with the native kernels: oneDNN reads the ONNX-layout weight and writes its gradient in that
  // layout, so no per-step transpose (and none of its gradient) runs.
  if (group === 1 && onnxLayoutTrainable(x, w.shape, g, bias)) return conv2dTrainable(x, w, g, bias, filterGrad, activation, 'oihw', inputGrad);
  const wHwio = tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D; // [kh, kw, cin/group, cout]
  let y: tf.Tensor4D;
  let fused = false;
  let biasDone = false;
  // The activation goes into the kernel only where nothing follows it (subsampling comes after the conv).
  const act = subsample ? undefined : activation;
  if (group === 1) {
    y = conv2dTrainable(x, wHwio, run, bias, filterGrad, act, 'hwio', inputGrad);
    fused = true;
  } else if (cinPerGroup === 1 && cout % cin === 0) {
    // Depthwise: tfjs wants [kh, kw, cin, multiplier]; ONNX orders output channels group-major, as tfjs does.
    y = depthwiseConv2dTrainable(x, tf.reshape(wHwio, [kh, kw, cin, cout / cin]) as tf.Tensor4D, run, bias, filterGrad, act);
    fused = true;
  } else {
    // Native (oneDNN): one grouped convolution with its bias (the activation stays a separate op); else per group.
    const native = groupedConv2dTrainable(x, wHwio, run, group, bias, filterGrad);
    if (native) {
      y = native;
      biasDone = true;
    } else {
      const xs = tf.split(x, group, 3);
      const ws = tf.split(wHwio, group, 3);
      y = tf.concat(
        xs.map((xi, i) => conv2dTrainable(xi as tf.Tensor4D, ws[i] as tf.Tensor4D, run, undefined, filterGrad)),
        3,
      ) as tf.Tensor4D;
    }
  }
  if (subsample) y = takeEvery(takeEvery(y, 1, g.strides[0]), 2, g.strides[1]) as tf.Tensor4D;
  if (bias && !fused && !biasDone) y = tf.add(y, bias);
  if (activation && !(fused && act)) y = activation === 'relu' ? tf.relu(y) : tf.relu6(y);
  return y;
}

/** 1-D Conv as a 2-D one over [1, L]: [N, C, L] <-> NHWC [N, 1, L, C]. */
function conv1d(node: Node, x: tf.Tensor, w: tf.Tensor, bias: tf.Tensor | undefined, filterGrad: boolean): tf.Tensor {
  const [n, c, l] = x.shape;
  const x4 = tf.reshape(tf.transpose(x, [0, 2, 1]), [n, 1, l, c]) as tf.Tensor4D;
  const w4 = tf.expandDims(w, 2) as tf.Tensor4D;
  const y = conv2d(node, lift1d(spatialAttrs(node, 1)), x4, w4, bias, filterGrad);
  return tf.transpose(tf.squeeze(y, [1]), [0, 2, 1]);
}

/** 3-D Conv on tfjs's NDHWC conv3d ([N, C, D, H, W] in and out). */
function conv3d(node: Node, x: tf.Tensor5D, w: tf.Tensor5D, bias: tf.Tensor | undefined): tf.Tensor {
  const group = attrInt(node, 'group', 1);
  const a = spatialAttrs(node, 3);
  const k = w.shape.slice(2);
  if (w.shape[1] * group !== x.shape[1]) throw malformed(node, `input has ${x.shape[1]} channels, the weight expects ${w.shape[1] * group}`);
  const pads = explicitPads(a, x.shape.slice(2), k);
  const xt = tf.pad(tf.transpose(x, [0, 2, 3, 4, 1]), [[0, 0], ...pads, [0, 0]]) as tf.Tensor5D;
  const wt = tf.transpose(w, [2, 3, 4, 1, 0]) as tf.Tensor5D; // [kd, kh, kw, cin/group, cout]
  const subsample = a.strides.some((s) => s > 1) && a.dilations.some((d) => d > 1);
  const strides = (subsample ? [1, 1, 1] : a.strides) as [number, number, number];
  const dil = a.dilations as [number, number, number];
  const one = (xi: tf.Tensor5D, wi: tf.Tensor5D) => tf.conv3d(xi, wi, strides, 'valid', 'NDHWC', dil);
  let y: tf.Tensor;
  if (group === 1) {
    y = one(xt, wt);
  } else {
    const ws = tf.split(wt, group, 4);
    y = tf.concat(
      tf.split(xt, group, 4).map((xi, i) => one(xi as tf.Tensor5D, ws[i] as tf.Tensor5D)),
      4,
    );
  }
  if (subsample) a.strides.forEach((s, i) => (y = takeEvery(y, i + 1, s)));
  if (bias) y = tf.add(y, bias);
  return tf.transpose(y, [0, 4, 1, 2, 3]);
}

function conv(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const { node } = ctx;
  const x = input(node, inputs, 0);
  const w = input(node, inputs, 1).t;
  const b = inputs[2]?.t;
  switch (w.rank) {
    case 4:
      return [nhwc(convNhwc(node, toNhwc(x) as tf.Tensor4D, w, b, weightGradients(ctx), ctx.activation, ctx.needsGradient?.(0) ?? true))];
    case 3:
      return [plain(conv1d(node, toLogical(x), w, b, weightGradients(ctx)))];
    case 5:
      return [plain(conv3d(node, toLogical(x) as tf.Tensor5D, w as tf.Tensor5D, b))];
    default:
      throw unsupported(node, `${w.rank - 2}-D convolutions are not supported`);
  }
}

export const CONV_OPS: readonly OpDeclaration[] = [{ op: 'Conv', since: 1, cost: 'layer', kernel: conv }];
