import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel, int, int64Scalar, int64s, ints, node, sineTensor, valueInfo } from '../../test/support/model-builder.js';
import type { Node } from '../graph/index.js';
import { initBackend } from './backend.js';
import { Executor } from './executor.js';
import { ONNX_OPS } from './ops/index.js';
import { OpRegistry } from './registry.js';

// A ShuffleNetV2 unit as PyTorch exports it (opset 12, dynamic batch): Concat, channel shuffle with shapes
// from Shape/Gather/Div arithmetic, then the next unit's Slices. The executor runs the shuffle as one NHWC
// transpose; the same graph with an Identity inside the pattern runs op by op. Both must agree bit for bit.

beforeAll(async () => {
  await initBackend('wasm');
});

const onnxOps = new OpRegistry(ONNX_OPS);

/** The interpreter's kernels, counting calls per op type. */
function countingRegistry(): OpRegistry & { calls: Map<string, number> } {
  const calls = new Map<string, number>();
  return Object.assign(
    onnxOps.withKernels(
      ({ op, kernel }) =>
        (inputs, ctx) => (calls.set(op, (calls.get(op) ?? 0) + 1), kernel(inputs, ctx)),
    ),
    { calls },
  );
}

function unit(breakPattern: boolean) {
  const w1 = sineTensor('w1', [6, 4, 1, 1], 1);
  const w2 = sineTensor('w2', [6, 4, 1, 1], 2);
  const w3 = sineTensor('w3', [6, 6, 1, 1], 3);
  const nodes: Node[] = [
    node('Conv', ['x', 'w1'], ['a']),
    node('Relu', ['a'], ['ar']),
    node('Conv', ['x', 'w2'], ['b']),
    node('Relu', ['b'], ['br']),
    node('Concat', ['ar', 'br'], ['cat'], { axis: int(1) }),
    node('Shape', ['cat'], ['shape']),
    node('Gather', ['shape', 'i0'], ['n'], { axis: int(0) }),
    node('Gather', ['shape', 'i1'], ['c'], { axis: int(0) }),
    node('Gather', ['shape', 'i2'], ['h'], { axis: int(0) }),
    node('Gather', ['shape', 'i3'], ['w'], { axis: int(0) }),
    node('Div', ['c', 'i2'], ['cg']),
    node('Unsqueeze', ['n'], ['n1'], { axes: ints([0]) }),
    node('Unsqueeze', ['cg'], ['cg1'], { axes: ints([0]) }),
    node('Unsqueeze', ['h'], ['h1'], { axes: ints([0]) }),
    node('Unsqueeze', ['w'], ['w1d'], { axes: ints([0]) }),
    node('Concat', ['n1', 'two', 'cg1', 'h1', 'w1d'], ['s5'], { axis: int(0) }),
    node('Reshape', ['cat', 's5'], ['r5']),
    node('Transpose', ['r5'], ['t5'], { perm: ints([0, 2, 1, 3, 4]) }),
    ...(breakPattern ? [node('Identity', ['t5'], ['t5b'])] : []),
    node('Concat', ['n1', 'minus1', 'h1', 'w1d'], ['s4'], { axis: int(0) }),
    node('Reshape', [breakPattern ? 't5b' : 't5', 's4'], ['shuffled']),
    // The next unit: its first half passes through, its second goes into a conv, then both are concatenated.
    node('Slice', ['shuffled', 'zero', 'six', 'one'], ['left']),
    node('Slice', ['shuffled', 'six', 'twelve', 'one'], ['right']),
    node('Conv', ['right', 'w3'], ['rc']),
    node('Concat', ['left', 'rc'], ['y'], { axis: int(1) }),
  ];
  return buildModel({
    nodes,
    initializers: [
      w1,
      w2,
      w3,
      int64Scalar('i0', 0),
      int64Scalar('i1', 1),
      int64Scalar('i2', 2),
      int64Scalar('i3', 3),
      int64s('two', [2]),
      int64s('minus1', [-1]),
      int64s('zero', [0]),
      int64s('six', [6]),
      int64s('twelve', [12]),
      int64s('one', [1]),
    ],
    inputs: [valueInfo('x', ['N', 4, 3, 5])],
    outputs: [valueInfo('y')],
    opset: 12,
  });
}

describe('channel shuffle', () => {
  it('runs as one NHWC transpose, bit-identical to the ops one by one, for two batch sizes', () => {
    const fastCalls = countingRegistry();
    const fast = new Executor(unit(false), { registry: fastCalls });
    const slow = new Executor(unit(true), { registry: onnxOps });
    for (const n of [2, 3]) {
      const x = tf.randomNormal([n, 4, 3, 5], 0, 1, 'float32', n);
      const got = fast.run({ x }).y;
      const want = slow.run({ x }).y;
      expect(got.shape).toEqual([n, 12, 3, 5]);
      expect(Array.from(got.dataSync())).toEqual(Array.from(want.dataSync()));
      tf.dispose([x, got, want]);
    }
    // The pattern ran fused: no Reshape or Transpose kernel was called.
    expect(fastCalls.calls.get('Reshape')).toBeUndefined();
    expect(fastCalls.calls.get('Transpose')).toBeUndefined();
    expect(fastCalls.calls.get('Slice')).toBe(4);
    fast.dispose();
    slow.dispose();
  });

  it('runs the ops one by one when the reshape is not a channel shuffle', () => {
    const m = unit(false);
    // [N, 2, C/2, H, W] -> [N, -1, W, H]: not the inverse view; must not be taken for a shuffle.
    const s4 = m.graph.nodes.find((n) => n.outputs[0] === 's4')!;
    s4.inputs = ['n1', 'minus1', 'w1d', 'h1'];
    const calls = countingRegistry();
    const exec = new Executor(m, { registry: calls });
    const x = tf.randomNormal([2, 4, 3, 5], 0, 1, 'float32', 5);
    const shuffledShape = exec.run({ x }, { outputs: ['shuffled'] }).shuffled.shape;
    expect(shuffledShape).toEqual([2, 12, 5, 3]);
    expect(calls.calls.get('Transpose')).toBe(1);
    exec.dispose();
  });
});
