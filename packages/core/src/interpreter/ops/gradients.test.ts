import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AttributeValue, Node } from '../../graph/index.js';
import { initBackend } from '../backend.js';
import type { KernelContext } from '../kernel.js';
import { OpRegistry } from '../registry.js';
import { nhwc, plain, toLogical, type RtValue } from '../value.js';
import { dilateFilter } from './conv2d-trainable.js';
import { ONNX_OPS } from './index.js';

const onnxOps = new OpRegistry(ONNX_OPS);

// Fine-tuning differentiates through every kernel on the wasm backend, which lacks some backprop kernels
// (depthwise) and where pg writes its own (conv, depthwise). Each case runs a kernel on wasm, takes the
// gradients of a weighted sum of its output, and compares them with a reference on the cpu backend.

beforeAll(async () => {
  await initBackend('wasm');
});

const ints = (value: number[]): AttributeValue => ({ type: 'ints', value });
const int = (value: number): AttributeValue => ({ type: 'int', value });
const float = (value: number): AttributeValue => ({ type: 'float', value });
const str = (value: string): AttributeValue => ({ type: 'string', value });

interface Case {
  op: string;
  opset?: number;
  attrs?: Record<string, AttributeValue>;
  /** Differentiated inputs (logical shapes); the first is fed as NHWC when `nhwcInput`. */
  shapes: number[][];
  /** Constant inputs after the differentiated ones (shapes, axes, pads...), int32 unless constDtype says. */
  consts?: number[][];
  constDtype?: 'float32' | 'int32';
  nhwcInput?: boolean;
}

/** The kernel's outputs, flattened and concatenated (Split has several). */
function runKernel(c: Case, xs: tf.Tensor[]): tf.Tensor {
  const consts = (c.consts ?? []).map((v) => tf.tensor1d(v, c.constDtype ?? 'int32'));
  const inputs: RtValue[] = [...xs.map((x, i) => (i === 0 && c.nhwcInput ? nhwc(tf.transpose(x, [0, 2, 3, 1])) : plain(x))), ...consts.map(plain)];
  const node: Node = { name: 'n', opType: c.op, domain: '', inputs: inputs.map((_, i) => `i${i}`), outputs: ['y'], attributes: c.attrs ?? {} };
  const read = (i: number) => (inputs[i] ? Array.from(toLogical(inputs[i]).dataSync()) : undefined);
  const ctx: KernelContext = { node, opset: c.opset ?? 13, training: true, settings: {}, readInts: read, readFloats: read };
  const outs = onnxOps
    .find('', c.op, ctx.opset)!
    .kernel(inputs, ctx)
    .map((v) => tf.reshape(toLogical(v), [-1]));
  return outs.length === 1 ? outs[0] : tf.concat(outs);
}

/** Output and gradients of sum(f(xs) * r) for fixed random xs and r, as plain arrays. */
function gradsOf(f: (xs: tf.Tensor[]) => tf.Tensor, shapes: number[][]): { y: number[]; g: number[][] } {
  return tf.tidy(() => {
    const xs = shapes.map((s, i) => tf.randomNormal(s, 0, 1, 'float32', 11 + i));
    const y = f(xs);
    const r = tf.randomNormal(y.shape, 0, 1, 'float32', 7);
    const g = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(a), r)))(xs);
    return { y: Array.from(y.dataSync()), g: g.map((t) => Array.from(t.dataSync())) };
  });
}

async function onCpu<T>(fn: () => T): Promise<T> {
  await tf.setBackend('cpu');
  try {
    return fn();
  } finally {
    await tf.setBackend('wasm');
  }
}

function expectClose(ours: number[], ref: number[]): void {
  expect(ours.length).toBe(ref.length);
  const scale = Math.max(1, ...ref.map(Math.abs));
  ours.forEach((v, i) => expect(Math.abs(v - ref[i]) / scale, `element ${i}: ${v} vs ${ref[i]}`).toBeLessThan(1e-4));
}

const cases: [string, Case][] = [
  ['Gather axis 1 (an embedding lookup with repeats and a negative index)', { op: 'Gather', attrs: { axis: int(1) }, shapes: [[3, 5, 4]], consts: [[4, 0, -1, 2, 4]] }],
  ['Gather axis 0', { op: 'Gather', shapes: [[6, 3]], consts: [[5, 1, 1]] }],
  ['Gather of the one row of an axis (a last hidden state)', { op: 'Gather', shapes: [[1, 2, 3]], consts: [[-1]] }],
  ['Conv grouped', { op: 'Conv', attrs: { group: int(2), pads: ints([1, 1, 1, 1]) }, shapes: [[2, 4, 6, 6], [6, 2, 3, 3], [6]] }],
  ['Conv 1-D', { op: 'Conv', attrs: { strides: ints([2]), pads: ints([1, 0]) }, shapes: [[2, 3, 9], [4, 3, 3], [4]] }],
  [
    'MaxPool ceil_mode, asymmetric pads',
    { op: 'MaxPool', attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 0, 0, 1]), ceil_mode: int(1) }, shapes: [[2, 3, 8, 7]] },
  ],
  ['MaxPool dilated, strided', { op: 'MaxPool', attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 1]), dilations: ints([2, 2]) }, shapes: [[1, 2, 9, 8]] }],
  [
    'AveragePool count_include_pad',
    {
      op: 'AveragePool',
      attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]), count_include_pad: int(1), ceil_mode: int(1) },
      shapes: [[2, 3, 8, 8]],
    },
  ],
  ['GlobalAveragePool', { op: 'GlobalAveragePool', shapes: [[2, 3, 5, 5]], nhwcInput: true }],
  [
    'BatchNormalization NHWC',
    {
      op: 'BatchNormalization',
      shapes: [[2, 3, 4, 4], [3], [3]],
      consts: [
        [0.1, -0.2, 0.3],
        [1, 0.5, 2],
      ],
      constDtype: 'float32',
      nhwcInput: true,
    },
  ],
  [
    'BatchNormalization rank 3',
    {
      op: 'BatchNormalization',
      shapes: [[2, 3, 5], [3], [3]],
      consts: [
        [0.1, -0.2, 0.3],
        [1, 0.5, 2],
      ],
      constDtype: 'float32',
    },
  ],
  ['Clip (ReLU6)', { op: 'Clip', opset: 9, attrs: { min: float(0), max: float(6) }, shapes: [[2, 3, 4, 4]] }],
  ['HardSigmoid', { op: 'HardSigmoid', shapes: [[4, 5]] }],
  ['HardSwish', { op: 'HardSwish', opset: 14, shapes: [[4, 5]] }],
  ['LeakyRelu', { op: 'LeakyRelu', attrs: { alpha: float(0.1) }, shapes: [[4, 5]] }],
  [
    'Slice with negative steps on NHWC',
    {
      op: 'Slice',
      shapes: [[2, 6, 5, 4]],
      consts: [
        [5, 0],
        [0, 4],
        [1, 3],
        [-2, 1],
      ],
      nhwcInput: true,
    },
  ],
  ['Split channels of NHWC', { op: 'Split', attrs: { axis: int(1) }, shapes: [[2, 6, 3, 3]], consts: [[2, 4]], nhwcInput: true }],
  ['Pad reflect on NHWC', { op: 'Pad', attrs: { mode: str('reflect') }, shapes: [[1, 2, 4, 4]], consts: [[0, 0, 1, 2, 0, 0, 2, 1]], nhwcInput: true }],
  ['Pad edge', { op: 'Pad', attrs: { mode: str('edge') }, shapes: [[1, 2, 4, 4]], consts: [[0, 1, 1, 2, 0, 0, 2, 1]] }],
  ['Pad constant with a crop', { op: 'Pad', shapes: [[1, 2, 4, 4]], consts: [[0, 0, -1, 2, 0, 0, 2, -1]] }],
  ['Transpose of NHWC (channel shuffle)', { op: 'Transpose', attrs: { perm: ints([0, 2, 1, 3]) }, shapes: [[2, 4, 3, 3]], nhwcInput: true }],
  ['ReduceMean without keepdims on NHWC', { op: 'ReduceMean', attrs: { axes: ints([2, 3]), keepdims: int(0) }, shapes: [[2, 3, 4, 4]], nhwcInput: true }],
  ['ReduceSum with axes input', { op: 'ReduceSum', shapes: [[2, 3, 4]], consts: [[1]] }],
  ['Expand', { op: 'Expand', shapes: [[3, 1]], consts: [[2, 3, 4]] }],
  ['Softmax', { op: 'Softmax', shapes: [[3, 5]] }],
  ['Gemm transB', { op: 'Gemm', attrs: { transB: int(1), alpha: float(0.5) }, shapes: [[3, 4], [5, 4], [5]] }],
  ['Max of three', { op: 'Max', shapes: [[3, 4], [3, 4], [4]] }],
  [
    'Concat of NHWC and plain',
    {
      op: 'Concat',
      attrs: { axis: int(1) },
      shapes: [
        [2, 3, 4, 4],
        [2, 2, 4, 4],
      ],
      nhwcInput: true,
    },
  ],
  [
    'MatMul batched, broadcast',
    {
      op: 'MatMul',
      shapes: [
        [2, 3, 4],
        [4, 5],
      ],
    },
  ],
  [
    'MatMul 4-D (attention scores and values)',
    {
      op: 'MatMul',
      shapes: [
        [2, 3, 5, 4],
        [2, 3, 4, 5],
      ],
    },
  ],
  [
    'MatMul broadcast batch dims',
    {
      op: 'MatMul',
      shapes: [
        [2, 1, 5, 4],
        [3, 4, 2],
      ],
    },
  ],
  ['Gather of one index on an inner axis (a class token)', { op: 'Gather', attrs: { axis: int(1) }, shapes: [[2, 5, 3]], consts: [[0]] }],
  ['Gather with repeated and negative indices on axis 0 (an embedding)', { op: 'Gather', shapes: [[6, 4]], consts: [[1, 5, 1, -1, 0]] }],
  ['Erf', { op: 'Erf', shapes: [[4, 5]] }],
  ['Gelu', { op: 'Gelu', opset: 20, shapes: [[2, 3, 5]] }],
  ['Gelu tanh', { op: 'Gelu', opset: 20, attrs: { approximate: str('tanh') }, shapes: [[2, 3, 5]] }],
  ['LayerNormalization over the last axis', { op: 'LayerNormalization', opset: 17, shapes: [[2, 3, 8], [8], [8]] }],
  ['LayerNormalization over two axes', { op: 'LayerNormalization', opset: 17, attrs: { axis: int(1), epsilon: float(1e-3) }, shapes: [[2, 3, 4], [3, 4], [4]] }],
  ['Pow by a constant 2 (LayerNorm as PyTorch writes it before opset 17)', { op: 'Pow', shapes: [[3, 4]], consts: [[2]], constDtype: 'float32' }],
  ['Softmax on the last axis of 4-D scores', { op: 'Softmax', shapes: [[2, 3, 5, 5]] }],
  ['Softmax before opset 13 (2-D coercion)', { op: 'Softmax', opset: 11, attrs: { axis: int(1) }, shapes: [[2, 3, 4]] }],
  ['Flatten of NHWC', { op: 'Flatten', shapes: [[2, 3, 4, 4]], nhwcInput: true }],
];

describe('kernel gradients on wasm agree with the cpu backend', () => {
  for (const [label, c] of cases) {
    it(label, async () => {
      const f = (xs: tf.Tensor[]) => runKernel(c, xs);
      const ours = gradsOf(f, c.shapes);
      const ref = await onCpu(() => gradsOf(f, c.shapes));
      expectClose(ours.y, ref.y);
      ours.g.forEach((g, i) => expectClose(g, ref.g[i]));
    });
  }
});

/** ONNX Conv as tfjs conv2d on the cpu backend (native gradients): per group, with the filter dilated by hand. */
function referenceConv(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, group: number, strides: [number, number], pads: number[], dilations: [number, number]): tf.Tensor {
  const xn = tf.pad(tf.transpose(x, [0, 2, 3, 1]), [
    [0, 0],
    [pads[0], pads[2]],
    [pads[1], pads[3]],
    [0, 0],
  ]) as tf.Tensor4D;
  // (tf.split into one part breaks its own gradient.)
  const xs = group === 1 ? [xn] : tf.split(xn, group, 3);
  const ws = group === 1 ? [w] : tf.split(w, group, 0);
  const ys = xs.map((xi, g) => tf.conv2d(xi as tf.Tensor4D, dilateFilter(tf.transpose(ws[g], [2, 3, 1, 0]) as tf.Tensor4D, dilations), strides, 'valid'));
  return tf.add(tf.transpose(tf.concat(ys, 3), [0, 3, 1, 2]), tf.reshape(b, [1, -1, 1, 1]));
}

describe('convolutions (with bias) with pg-written gradients agree with tfjs conv2d on cpu', () => {
  const convCases: [string, number[], number[], number, [number, number], number[], [number, number]][] = [
    ['depthwise 3x3 stride 2 pad 1', [2, 4, 7, 7], [4, 1, 3, 3], 4, [2, 2], [1, 1, 1, 1], [1, 1]],
    ['depthwise multiplier 2, dilation 2', [1, 3, 8, 8], [6, 1, 3, 3], 3, [1, 1], [2, 2, 2, 2], [2, 2]],
    ['depthwise 5x5 stride 2 asymmetric pads', [2, 2, 9, 8], [2, 1, 5, 5], 2, [2, 2], [2, 1, 1, 2], [1, 1]],
    ['depthwise 1x1 stride 2 (rows left unread)', [1, 2, 5, 5], [2, 1, 1, 1], 2, [2, 2], [0, 0, 0, 0], [1, 1]],
    ['depthwise dilation 2 and stride 2', [1, 2, 9, 9], [2, 1, 3, 3], 2, [2, 2], [2, 2, 2, 2], [2, 2]],
    ['dense dilation 2', [2, 3, 8, 8], [4, 3, 3, 3], 1, [1, 1], [2, 2, 2, 2], [2, 2]],
    ['dense dilation 2 and stride 2', [1, 3, 9, 9], [4, 3, 3, 3], 1, [2, 2], [1, 1, 1, 1], [2, 2]],
    ['grouped (3 groups of 2) dilation 2, stride 2, asymmetric pads', [2, 6, 9, 9], [9, 2, 3, 3], 3, [2, 2], [1, 2, 2, 1], [2, 2]],
  ];
  for (const [label, xs, ws, group, strides, pads, dilations] of convCases) {
    it(label, async () => {
      const attrs = { group: int(group), strides: ints(strides), pads: ints(pads), dilations: ints(dilations) };
      const shapes = [xs, ws, [ws[0]]];
      const ours = gradsOf((a) => runKernel({ op: 'Conv', attrs, shapes: [] }, a), shapes);
      const ref = await onCpu(() => gradsOf(([x, w, b]) => referenceConv(x, w, b, group, strides, pads, dilations), shapes));
      expectClose(ours.y, ref.y);
      ours.g.forEach((g, i) => expectClose(g, ref.g[i]));
    });
  }
});
