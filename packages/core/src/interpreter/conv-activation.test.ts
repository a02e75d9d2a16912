import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel, float, floatScalar, int, ints, node, sineTensor, valueInfo } from '../../test/support/model-builder.js';
import type { ConstTensor, Model, Node } from '../graph/index.js';
import { initBackend } from './backend.js';
import { Executor } from './executor.js';
import { ONNX_OPS } from './ops/index.js';
import { OpRegistry } from './registry.js';

// Outside training the executor runs a Relu or ReLU6 Clip that only reads a Conv's output inside the conv's
// kernel (one pass over the activation instead of two). Results must not change, and the fusion must stay
// off where the conv's own output is needed.

beforeAll(async () => {
  await initBackend('wasm');
});

const values = (name: string, dims: number[], seed: number, scale = 1) => sineTensor(name, dims, seed, { step: 0.61, scale });
const model = (nodes: Node[], inits: ConstTensor[], outputs: string[], opset = 13): Model =>
  buildModel({ nodes, initializers: inits, inputs: [valueInfo('x', [2, 4, 9, 9])], outputs: outputs.map((name) => valueInfo(name)), opset });

/** The default kernels, with the activation kernels counting their calls. */
function countingRegistry(calls: Map<string, number>): OpRegistry {
  return new OpRegistry(ONNX_OPS).withKernels(({ op, kernel }) => (inputs, ctx) => {
    calls.set(op, (calls.get(op) ?? 0) + 1);
    return kernel(inputs, ctx);
  });
}

const x = () => tf.tensor(values('x', [2, 4, 9, 9], 0.3, 8).data() as Float32Array, [2, 4, 9, 9]);
const inits = [values('w', [6, 4, 3, 3], 1), values('b', [6], 2), values('wd', [4, 1, 3, 3], 3), values('bd', [4], 4)];
const six = [floatScalar('lo', 0), floatScalar('hi', 6)];

function run(m: Model, outputs?: string[]): { out: Record<string, Float32Array>; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const exec = new Executor(m, { registry: countingRegistry(calls) });
  try {
    const out = tf.tidy(() => exec.run({ x: x() }, { outputs }));
    const host = Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.dataSync() as Float32Array]));
    tf.dispose(Object.values(out));
    return { out: host, calls };
  } finally {
    exec.dispose();
  }
}

function expectSame(a: Float32Array, b: Float32Array): void {
  expect(a.length).toBe(b.length);
  let worst = 0;
  a.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[i]))));
  expect(worst).toBeLessThan(1e-5);
}

describe('Conv + Relu/ReLU6 fused outside training', () => {
  const cases: [string, Model][] = [
    ['Conv → Relu', model([node('Conv', ['x', 'w', 'b'], 'c', { pads: ints([1, 1, 1, 1]) }), node('Relu', ['c'], 'y')], inits, ['y'])],
    ['Conv → Clip(0, 6) from inputs', model([node('Conv', ['x', 'w', 'b'], 'c', { strides: ints([2, 2]) }), node('Clip', ['c', 'lo', 'hi'], 'y')], [...inits, ...six], ['y'])],
    ['Conv → Clip(0, 6) from attributes (opset 9)', model([node('Conv', ['x', 'w'], 'c'), node('Clip', ['c'], 'y', { min: float(0), max: float(6) })], inits, ['y'], 9)],
    [
      'depthwise Conv → Clip(0, 6)',
      model([node('Conv', ['x', 'wd', 'bd'], 'c', { group: int(4), pads: ints([1, 1, 1, 1]) }), node('Clip', ['c', 'lo', 'hi'], 'y')], [...inits, ...six], ['y']),
    ],
    ['strided and dilated Conv → Relu', model([node('Conv', ['x', 'w', 'b'], 'c', { strides: ints([2, 2]), dilations: ints([2, 2]) }), node('Relu', ['c'], 'y')], inits, ['y'])],
  ];
  for (const [name, m] of cases) {
    it(`${name}: the activation runs in the conv, with the same result`, () => {
      const fused = run(m);
      const op = m.graph.nodes[1].opType;
      expect(fused.calls.get(op) ?? 0).toBe(0);
      // asking for the conv's output turns the fusion off
      const separate = run(m, ['y', 'c']);
      expect(separate.calls.get(op)).toBe(1);
      expectSame(fused.out.y, separate.out.y);
      expect(fused.out.y.some((v) => v === 0)).toBe(true);
    });
  }

  it('keeps the activation separate where the conv output has another reader or other bounds', () => {
    const twoReaders = model([node('Conv', ['x', 'w', 'b'], 'c'), node('Relu', ['c'], 'r'), node('Add', ['r', 'c'], 'y')], inits, ['y']);
    expect(run(twoReaders).calls.get('Relu')).toBe(1);
    const clip5 = [six[0], floatScalar('hi', 5)];
    const other = model([node('Conv', ['x', 'w', 'b'], 'c'), node('Clip', ['c', 'lo', 'hi'], 'y')], [...inits, ...clip5], ['y']);
    const r = run(other);
    expect(r.calls.get('Clip')).toBe(1);
    expect(Math.max(...r.out.y)).toBeLessThanOrEqual(5);
  });

  it('does not fuse while training (the tape needs the conv output)', () => {
    const m = cases[0][1];
    const calls = new Map<string, number>();
    const exec = new Executor(m, { registry: countingRegistry(calls) });
    try {
      tf.tidy(() => exec.run({ x: x() }, { training: true }));
      expect(calls.get('Relu')).toBe(1);
    } finally {
      exec.dispose();
    }
  });
});
