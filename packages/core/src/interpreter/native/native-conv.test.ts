import * as tf from '@tensorflow/tfjs-core';
import { loadNativeKernels } from '@pg/native-kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { disableNativeConv, enableNativeConv, nativeUnavailableReason } from './enable.js';
import { activeNativeKernels, nativeConvImplementation, type NativeConvShape } from './native-conv.js';
import { nativeConv, nativeConvFilterBiasGrad, nativeConvFilterGrad, nativeConvInputGrad, nativeConvOnnxWeights, type NativeGeometry } from './native-grads.js';
import { nativeThreads, setNativeThreads } from './threads.js';

const load = loadNativeKernels();
const built = load.ok && process.env.PG_NATIVE !== '0';
const why = built ? '' : ` (skipped: the addon is not built or is off: ${load.ok ? 'PG_NATIVE=0' : load.reason}; CI builds it with libdnnl-dev + g++)`;

beforeAll(async () => {
  await initBackend('wasm');
});

type Pad = [[number, number], [number, number], [number, number], [number, number]];
const explicit = (t: number, b: number, l: number, r: number): Pad => [
  [0, 0],
  [t, b],
  [l, r],
  [0, 0],
];

function rand(shape: number[], seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, 'float32', seed);
}

/** `f` once with oneDNN's kernels and once with the wasm backend's own. */
function bothWays(f: () => tf.Tensor): [Float32Array, Float32Array] {
  const native = f().dataSync() as Float32Array;
  disableNativeConv();
  try {
    return [native, f().dataSync() as Float32Array];
  } finally {
    enableNativeConv();
  }
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-4): void {
  expect(a.length).toBe(b.length);
  let worst = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  expect(worst / scale).toBeLessThan(tol);
}

function dot(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * y[i];
  return s;
}

describe.skipIf(!built)(`oneDNN kernels under tfjs-wasm${why}`, () => {
  it('are registered by initBackend', () => {
    expect(activeNativeKernels()).toBeDefined();
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
  });

  const conv2dCases: [string, number[], number[], [number, number], Pad | 'same' | 'valid', [number, number]][] = [
    ['3x3 stride 2x1, asymmetric pads', [2, 9, 8, 6], [3, 3, 6, 5], [2, 1], explicit(1, 0, 2, 1), [1, 1]],
    ['3x3 dilation 2, same', [1, 10, 11, 4], [3, 3, 4, 7], [1, 1], 'same', [2, 2]],
    ['1x1 stride 2 valid', [3, 7, 7, 8], [1, 1, 8, 16], [2, 2], 'valid', [1, 1]],
    ['5x3 kernel, stride 3, pads', [2, 13, 9, 3], [5, 3, 3, 4], [3, 3], explicit(2, 2, 0, 1), [1, 1]],
  ];
  for (const [label, xs, ws, strides, pad, dilations] of conv2dCases) {
    it(`Conv2D ${label}: equals the wasm kernel`, () => {
      const x = rand(xs, 1) as tf.Tensor4D;
      const w = rand(ws, 2) as tf.Tensor4D;
      const [a, b] = bothWays(() => tf.conv2d(x, w, strides, pad, 'NHWC', dilations));
      expectClose(a, b);
    });
  }

  for (const activation of ['linear', 'relu', 'relu6'] as const) {
    it(`FusedConv2D bias + ${activation}: equals the wasm kernel`, () => {
      const x = tf.mul(rand([2, 8, 8, 5], 3), 3) as tf.Tensor4D;
      const w = rand([3, 3, 5, 6], 4) as tf.Tensor4D;
      const bias = rand([6], 5);
      const [a, b] = bothWays(() => tf.fused.conv2d({ x, filter: w, strides: 2, pad: explicit(0, 1, 1, 0), bias, activation }));
      expectClose(a, b);
    });
  }

  it('FusedConv2D with leakyrelu (not native) runs the wasm kernel: identical', () => {
    const x = rand([1, 6, 6, 3], 6) as tf.Tensor4D;
    const w = rand([3, 3, 3, 2], 7) as tf.Tensor4D;
    const [a, b] = bothWays(() => tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', activation: 'leakyrelu', leakyreluAlpha: 0.1 }));
    expect(Array.from(a)).toEqual(Array.from(b));
  });

  const depthwiseCases: [string, number[], number[], [number, number], Pad | 'same' | 'valid', [number, number]][] = [
    ['multiplier 1, stride 2, asymmetric pads', [2, 9, 9, 6], [3, 3, 6, 1], [2, 2], explicit(1, 0, 0, 1), [1, 1]],
    ['multiplier 2, dilation 2, same', [1, 8, 10, 4], [3, 3, 4, 2], [1, 1], 'same', [2, 2]],
    ['5x5 multiplier 3, valid', [2, 9, 9, 3], [5, 5, 3, 3], [1, 1], 'valid', [1, 1]],
  ];
  for (const [label, xs, fs, strides, pad, dilations] of depthwiseCases) {
    it(`DepthwiseConv2dNative ${label}: equals the wasm kernel`, () => {
      const x = rand(xs, 8) as tf.Tensor4D;
      const f = rand(fs, 9) as tf.Tensor4D;
      const [a, b] = bothWays(() => tf.depthwiseConv2d(x, f, strides, pad, 'NHWC', dilations));
      expectClose(a, b);
    });
  }

  it('FusedDepthwiseConv2D bias + relu6: equals the wasm kernel', () => {
    const x = tf.mul(rand([2, 7, 7, 8], 10), 4) as tf.Tensor4D;
    const f = rand([3, 3, 8, 1], 11) as tf.Tensor4D;
    const bias = rand([8], 12);
    const [a, b] = bothWays(() => tf.fused.depthwiseConv2d({ x, filter: f, strides: 2, pad: 'same', bias, activation: 'relu6' }));
    expectClose(a, b);
  });

  it("tfjs's Conv2D and depthwise gradients (native backprop kernels) equal the cpu backend's", async () => {
    const x = rand([2, 9, 8, 4], 13) as tf.Tensor4D;
    const w = rand([3, 3, 4, 5], 14) as tf.Tensor4D;
    const f = rand([3, 3, 4, 2], 15) as tf.Tensor4D;
    const pad = explicit(1, 0, 0, 2);
    const loss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor): tf.Scalar =>
      tf.add(
        tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, pad))),
        tf.sum(tf.square(tf.depthwiseConv2d(a as tf.Tensor4D, c as tf.Tensor4D, 2, 'same'))),
      ) as tf.Scalar;
    const ours = tf
      .grads(loss)([x, w, f])
      .map((t) => t.dataSync().slice());
    const data = [x, w, f].map((t) => ({ v: t.dataSync().slice(), s: t.shape }));
    await tf.setBackend('cpu');
    const ref = tf
      .grads(loss)(data.map((d) => tf.tensor(d.v, d.s)))
      .map((t) => t.dataSync().slice());
    await tf.setBackend('wasm');
    for (let i = 0; i < 3; i++) expectClose(ours[i], ref[i], 1e-4);
  });

  // <dy, conv(x, w)> = <dx, x> = <dw, w>: the adjoint identity checks both gradients for any geometry,
  // including the dilation + stride and grouped cases tfjs's own gradients do not support.
  const adjointCases: [string, number[], number[], NativeGeometry, number][] = [
    ['stride 2, dilation 2, asymmetric pads', [2, 11, 10, 6], [3, 3, 6, 4], { strides: [2, 2], dilations: [2, 2], pads: [2, 1, 0, 3] }, 1],
    ['groups 3', [2, 8, 8, 6], [3, 3, 2, 9], { strides: [1, 2], dilations: [1, 1], pads: [1, 1, 1, 1] }, 3],
    ['depthwise multiplier 2, stride 2, dilation 3', [1, 12, 12, 4], [3, 3, 1, 8], { strides: [2, 2], dilations: [3, 3], pads: [3, 3, 2, 3] }, 4],
  ];
  for (const [label, xs, ws, g, groups] of adjointCases) {
    it(`input and filter gradients, ${label}: adjoints of the forward`, () => {
      const x = rand(xs, 16) as tf.Tensor4D;
      const w = rand(ws, 17) as tf.Tensor4D;
      const y = nativeConv(x, w, g, groups)!;
      const dy = rand(y.shape, 18) as tf.Tensor4D;
      const dx = nativeConvInputGrad(dy, w, x.shape, g, groups)!;
      const dw = nativeConvFilterGrad(x, dy, w.shape, g, groups)!;
      expect(dx.shape).toEqual(x.shape);
      expect(dw.shape).toEqual(w.shape);
      const ref = dot(dy, y);
      expect(Math.abs(dot(dx, x) - ref) / Math.abs(ref)).toBeLessThan(1e-5);
      expect(Math.abs(dot(dw, w) - ref) / Math.abs(ref)).toBeLessThan(1e-5);
      // The one-pass filter + bias gradient: the same dW, and db = Σ dy over batch and space.
      const [dw2, db] = nativeConvFilterBiasGrad(x, dy, w.shape, g, groups)!;
      expectClose(dw2.dataSync(), dw.dataSync(), 1e-6);
      expectClose(db.dataSync(), tf.sum(dy, [0, 1, 2]).dataSync(), 1e-5);
    });
  }

  it('a grouped forward equals per-group tfjs convolutions', () => {
    const x = rand([2, 7, 7, 6], 19) as tf.Tensor4D;
    const w = rand([3, 3, 3, 4], 20) as tf.Tensor4D;
    const g: NativeGeometry = { strides: [2, 2], dilations: [1, 1], pads: [1, 0, 1, 0] };
    const ours = nativeConv(x, w, g, 2)!.dataSync();
    const [x0, x1] = tf.split(x, 2, 3) as tf.Tensor4D[];
    const [w0, w1] = tf.split(w, 2, 3) as tf.Tensor4D[];
    const ref = tf.concat([tf.conv2d(x0, w0, 2, explicit(1, 0, 1, 0)), tf.conv2d(x1, w1, 2, explicit(1, 0, 1, 0))], 3).dataSync();
    expectClose(ours, ref);
  });

  it('an ONNX-layout weight (inference path): groups, stride with dilation, bias + relu equal the wasm kernels', () => {
    const x = rand([2, 11, 10, 4], 25) as tf.Tensor4D;
    const w = rand([6, 2, 3, 3], 26) as tf.Tensor4D; // [cout, cin / groups, kh, kw]
    const bias = rand([6], 27);
    const g: NativeGeometry = { strides: [2, 2], dilations: [2, 2], pads: [2, 1, 2, 2] };
    const ours = nativeConvOnnxWeights(x, w, g, 2, bias, 'relu')!;
    // wasm reference: per group, at stride 1 (tfjs takes a stride or a dilation), then every 2nd row/column.
    disableNativeConv();
    try {
      const hwio = tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D;
      const [x0, x1] = tf.split(x, 2, 3) as tf.Tensor4D[];
      const [w0, w1] = tf.split(hwio, 2, 3) as tf.Tensor4D[];
      const pad = explicit(2, 1, 2, 2);
      const full = tf.concat([tf.conv2d(x0, w0, 1, pad, 'NHWC', 2), tf.conv2d(x1, w1, 1, pad, 'NHWC', 2)], 3);
      const sub = tf.gather(tf.gather(full, tf.range(0, full.shape[1]!, 2, 'int32'), 1), tf.range(0, full.shape[2]!, 2, 'int32'), 2);
      const ref = tf.relu(tf.add(sub, bias));
      expect(ours.shape).toEqual(ref.shape);
      expectClose(ours.dataSync(), ref.dataSync());
    } finally {
      enableNativeConv();
    }
  });

  it("no ResNet-shaped conv (3x3, 8 to 64 channels, stride 1 and 2) falls to oneDNN's reference loops in any pass", () => {
    const k = load.ok ? load.kernels : undefined;
    if (k === undefined) throw new Error('addon not loaded');
    const slow: string[] = [];
    for (const c of [8, 16, 32, 64]) {
      for (const stride of [1, 2]) {
        const out = Math.floor((14 + 2 - 3) / stride) + 1;
        const s: NativeConvShape = {
          n: 32,
          h: 14,
          w: 14,
          cin: c,
          outH: out,
          outW: out,
          cout: c,
          kh: 3,
          kw: 3,
          groups: 1,
          strides: [stride, stride],
          dilations: [1, 1],
          pads: [1, 1, 1, 1],
        };
        for (const pass of ['forward', 'backward-data', 'backward-weights'] as const) {
          const impl = nativeConvImplementation(k, s, pass);
          if (impl.startsWith('ref')) slow.push(`${c} channels, stride ${stride}, ${pass}: ${impl}`);
        }
      }
    }
    expect(slow).toEqual([]);
  });

  it('is deterministic: the same filter gradient twice, at 1 and at 2 threads; threads are per call site', () => {
    const x = rand([4, 16, 16, 8], 21) as tf.Tensor4D;
    const dy = rand([4, 8, 8, 16], 22) as tf.Tensor4D;
    const g: NativeGeometry = { strides: [2, 2], dilations: [1, 1], pads: [1, 0, 1, 0] };
    const before = setNativeThreads(1)!;
    try {
      expect(nativeThreads()).toBe(1);
      const a = nativeConvFilterGrad(x, dy, [3, 3, 8, 16], g, 1)!.dataSync();
      const b = nativeConvFilterGrad(x, dy, [3, 3, 8, 16], g, 1)!.dataSync();
      expect(Array.from(a)).toEqual(Array.from(b));
      setNativeThreads(2);
      expect(nativeThreads()).toBe(2);
      const c = nativeConvFilterGrad(x, dy, [3, 3, 8, 16], g, 1)!.dataSync();
      const d = nativeConvFilterGrad(x, dy, [3, 3, 8, 16], g, 1)!.dataSync();
      expect(Array.from(c)).toEqual(Array.from(d));
      expectClose(a, c, 1e-5);
    } finally {
      setNativeThreads(before);
    }
  });

  it('keeps integer sums exact: a conv of integer codes equals the exact integer result', () => {
    const xs = [2, 9, 9, 16];
    const ws = [3, 3, 16, 8];
    const xi = Float32Array.from({ length: 2 * 9 * 9 * 16 }, (_, i) => ((i * 7919) % 31) - 15);
    const wi = Float32Array.from({ length: 3 * 3 * 16 * 8 }, (_, i) => ((i * 104729) % 15) - 7);
    const y = tf.conv2d(tf.tensor4d(xi, xs as [number, number, number, number]), tf.tensor4d(wi, ws as [number, number, number, number]), 1, 'same').dataSync();
    // The exact result in float64 (all partial sums are integers far below 2^24).
    const [n, h, wd, c] = xs;
    const co = ws[3];
    let mismatches = 0;
    for (let b = 0; b < n; b++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < wd; j++)
          for (let o = 0; o < co; o++) {
            let s = 0;
            for (let di = 0; di < 3; di++)
              for (let dj = 0; dj < 3; dj++) {
                const r = i + di - 1;
                const q = j + dj - 1;
                if (r < 0 || q < 0 || r >= h || q >= wd) continue;
                for (let k = 0; k < c; k++) s += xi[((b * h + r) * wd + q) * c + k] * wi[((di * 3 + dj) * c + k) * co + o];
              }
            if (y[((b * h + i) * wd + j) * co + o] !== s) mismatches++;
          }
    expect(mismatches).toBe(0);
  });
});

describe('PG_NATIVE=0', () => {
  const saved = process.env.PG_NATIVE;
  afterAll(() => {
    if (saved === undefined) delete process.env.PG_NATIVE;
    else process.env.PG_NATIVE = saved;
    if (built) enableNativeConv();
  });

  it('keeps the pure wasm kernels: nothing registered, the tensor-level API declines', () => {
    process.env.PG_NATIVE = '0';
    disableNativeConv();
    expect(nativeUnavailableReason()).toBe('PG_NATIVE=0');
    expect(enableNativeConv()).toBe(false);
    expect(activeNativeKernels()).toBeUndefined();
    // tfjs-wasm has no filter-gradient kernel of its own.
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    const x = rand([1, 5, 5, 2], 23) as tf.Tensor4D;
    expect(nativeConv(x, rand([3, 3, 2, 2], 24) as tf.Tensor4D, { strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1] }, 1)).toBeUndefined();
    expect(tf.conv2d(x, rand([3, 3, 2, 2], 24) as tf.Tensor4D, 1, 'same').shape).toEqual([1, 5, 5, 2]);
  });
});
