import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeKernels } from '@pg/native-kernels';
import { nativeConvBackwardData, nativeConvBackwardWeights, nativeConvForward, nativeShapeSupported, type NativeActivation, type NativeConvShape } from './native-conv.js';

type KernelArgs = Parameters<tf.KernelFunc>[0];
type ConvInfo = ReturnType<typeof tf.backend_util.computeConv2DInfo>;

// The wasm backend's own kernels, kept for what oneDNN does not cover here (NCHW, prelu/leakyrelu/sigmoid/elu
// fused activations, broadcast biases, non-float32): those run the wasm backend's kernels unchanged.
const originals = new Map<string, tf.KernelConfig | undefined>();

function shapeOf(info: ConvInfo, depthwise: boolean): NativeConvShape {
  return {
    n: info.batchSize,
    h: info.inHeight,
    w: info.inWidth,
    cin: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    cout: info.outChannels,
    kh: info.filterHeight,
    kw: info.filterWidth,
    groups: depthwise ? info.inChannels : 1,
    strides: [info.strideHeight, info.strideWidth],
    dilations: [info.dilationHeight, info.dilationWidth],
    pads: [info.padInfo.top, info.padInfo.bottom, info.padInfo.left, info.padInfo.right],
  };
}

function allFloat(...ts: (tf.TensorInfo | undefined)[]): boolean {
  return ts.every((t) => t === undefined || t.dtype === 'float32');
}

function channelsLast(dataFormat: unknown): boolean {
  return dataFormat === undefined || dataFormat === 'NHWC' || dataFormat === 'channelsLast';
}

function fallback(name: string, args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const original = originals.get(name);
  if (!original) throw new Error(`${name}: this case (${JSON.stringify(args.attrs)}) has no wasm kernel`);
  return original.kernelFunc(args);
}

type Attrs = Record<string, unknown>;

function info(x: number[], f: number[], a: Attrs, depthwise: boolean): ConvInfo {
  return tf.backend_util.computeConv2DInfo(
    x as [number, number, number, number],
    f as [number, number, number, number],
    a.strides as [number, number] | number,
    (a.dilations ?? 1) as [number, number] | number,
    a.pad as 'valid',
    a.dimRoundingMode as 'floor' | undefined,
    depthwise,
    'channelsLast',
  );
}

function forward(k: NativeKernels, name: string, depthwise: boolean, fused: boolean) {
  return (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const a = args.attrs as Attrs;
    const activation = (fused ? (a.activation ?? 'linear') : 'linear') as string;
    if (!x || !filter || preluActivationWeights || !channelsLast(a.dataFormat) || !allFloat(x, filter, bias)) return fallback(name, args);
    if (activation !== 'linear' && activation !== 'relu' && activation !== 'relu6') return fallback(name, args);
    const s = shapeOf(info(x.shape, filter.shape, a, depthwise), depthwise);
    if (bias && (bias.shape.length !== 1 || bias.shape[0] !== s.cout)) return fallback(name, args);
    if (!nativeShapeSupported(s)) return fallback(name, args);
    return nativeConvForward(k, backend, x, filter, bias, s, activation as NativeActivation);
  };
}

function backwardData(k: NativeKernels, name: string, depthwise: boolean) {
  return (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { dy, filter } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const a = args.attrs as Attrs;
    if (!dy || !filter || !channelsLast(a.dataFormat) || !allFloat(dy, filter)) return fallback(name, args);
    const s = shapeOf(info(a.inputShape as number[], filter.shape, a, depthwise), depthwise);
    if (!nativeShapeSupported(s) || s.outH !== dy.shape[1] || s.outW !== dy.shape[2]) return fallback(name, args);
    return nativeConvBackwardData(k, args.backend as BackendWasm, dy, filter, s);
  };
}

function backwardFilter(k: NativeKernels, name: string, depthwise: boolean) {
  return (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { x, dy } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const a = args.attrs as Attrs;
    if (!x || !dy || !channelsLast(a.dataFormat) || !allFloat(x, dy)) return fallback(name, args);
    const s = shapeOf(info(x.shape, a.filterShape as number[], a, depthwise), depthwise);
    if (!nativeShapeSupported(s) || s.outH !== dy.shape[1] || s.outW !== dy.shape[2]) return fallback(name, args);
    const { dw } = nativeConvBackwardWeights(k, args.backend as BackendWasm, x, dy, s, false);
    // tfjs's depthwise filter gradient has the filter's own shape [kh, kw, c, multiplier]: the same memory.
    return depthwise ? { ...dw, shape: a.filterShape as number[] } : dw;
  };
}

/**
 * Replaces the wasm backend's convolution kernels with oneDNN ones (keeping the originals as the fallback)
 * and adds the backprop kernels tfjs-wasm lacks or runs slowly, so tfjs's own gradients use them too.
 */
export function registerNativeConvKernels(k: NativeKernels): void {
  const kernels: [string, tf.KernelFunc][] = [
    [tf.Conv2D, forward(k, tf.Conv2D, false, false) as tf.KernelFunc],
    [tf.FusedConv2D, forward(k, tf.FusedConv2D, false, true) as tf.KernelFunc],
    [tf.DepthwiseConv2dNative, forward(k, tf.DepthwiseConv2dNative, true, false) as tf.KernelFunc],
    [tf.FusedDepthwiseConv2D, forward(k, tf.FusedDepthwiseConv2D, true, true) as tf.KernelFunc],
    [tf.Conv2DBackpropInput, backwardData(k, tf.Conv2DBackpropInput, false) as tf.KernelFunc],
    [tf.DepthwiseConv2dNativeBackpropInput, backwardData(k, tf.DepthwiseConv2dNativeBackpropInput, true) as tf.KernelFunc],
    [tf.Conv2DBackpropFilter, backwardFilter(k, tf.Conv2DBackpropFilter, false) as tf.KernelFunc],
    [tf.DepthwiseConv2dNativeBackpropFilter, backwardFilter(k, tf.DepthwiseConv2dNativeBackpropFilter, true) as tf.KernelFunc],
  ];
  for (const [name, kernelFunc] of kernels) {
    if (!originals.has(name)) originals.set(name, tf.getKernel(name, 'wasm'));
    if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc });
  }
}

/** Puts the wasm backend's own convolution kernels back (for comparisons in tests and benches). */
export function unregisterNativeConvKernels(): void {
  for (const [name, original] of originals) {
    if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
    if (original) tf.registerKernel(original);
  }
  originals.clear();
}
