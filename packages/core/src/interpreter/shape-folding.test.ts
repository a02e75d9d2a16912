import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel, int, int64Scalar, int64s, node, sineTensor, valueInfo } from '../../test/support/model-builder.js';
import { initBackend } from './backend.js';
import { Executor } from './executor.js';
import { OpRegistry } from './registry.js';
import { ONNX_OPS } from './ops/index.js';

const onnxOps = new OpRegistry(ONNX_OPS);
import { planFolding } from './shape-folding.js';

// Shape arithmetic (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) is computed once per shape and
// cached; these check the cache against running every node each time, with a dynamic batch.

beforeAll(async () => {
  await initBackend('wasm');
});

const w1 = sineTensor('w1', [4, 3, 1, 1], 1);
const wf = sineTensor('wf', [2], 3);
// x.view(N, 2, -1) then a Slice whose end is half the channels read from the shape, batch unknown.
const model = buildModel({
  nodes: [
    node('Conv', ['x', 'w1'], ['a']),
    node('Shape', ['a'], ['shape']),
    node('Gather', ['shape', 'zero'], ['batch'], { axis: int(0) }),
    node('Gather', ['shape', 'one'], ['channels'], { axis: int(0) }),
    node('Div', ['channels', 'two'], ['half']),
    node('Unsqueeze', ['batch', 'axes0'], ['batch1']),
    node('Concat', ['batch1', 'twoVec', 'minus1'], ['target'], { axis: int(0) }),
    node('Reshape', ['a', 'target'], ['viewed']),
    node('Unsqueeze', ['half', 'axes0'], ['end']),
    node('Slice', ['a', 'zeroVec', 'end', 'oneVec'], ['firstHalf']),
    node('Flatten', ['firstHalf'], ['flatHalf']),
    node('Flatten', ['viewed'], ['flatAll']),
    node('Concat', ['flatAll', 'flatHalf'], ['y'], { axis: int(1) }),
    // A float initializer is not folded over: it may be a trained parameter.
    node('Mul', ['wf', 'wf'], ['wsq']),
    node('Identity', ['target'], ['targetCopy']),
  ],
  initializers: [
    w1,
    wf,
    int64Scalar('zero', 0),
    int64Scalar('one', 1),
    int64Scalar('two', 2),
    int64s('axes0', [0]),
    int64s('twoVec', [2]),
    int64s('minus1', [-1]),
    int64s('zeroVec', [0]),
    int64s('oneVec', [1]),
  ],
  inputs: [valueInfo('x', ['N', 3, 2, 2])],
  outputs: [valueInfo('y')],
  opset: 13,
});

const run = (exec: Executor, x: tf.Tensor, outputs?: string[]) => exec.run({ x }, { outputs });

describe('shape folding', () => {
  it('folds the Shape-derived nodes and nothing that reads a float initializer or a feed', () => {
    const { order } = new Executor(model, { registry: onnxOps, foldShapes: false });
    const roles = planFolding(model.graph, order);
    const folded = order.filter((_, i) => roles.has(i)).map((n) => n.outputs[0]);
    expect(folded.sort()).toEqual(['batch', 'batch1', 'channels', 'end', 'half', 'shape', 'target', 'targetCopy'].sort());
    const target = order.findIndex((n) => n.outputs[0] === 'target');
    expect(roles.get(target)?.sources).toEqual(['shape']);
  });

  it('gives bit-identical outputs to unfolded runs for two batch sizes, alternating, one entry set per shape', () => {
    const folded = new Executor(model, { registry: onnxOps });
    const plain = new Executor(model, { registry: onnxOps, foldShapes: false });
    const entries: number[] = [];
    for (const n of [2, 5, 2, 5]) {
      const x = tf.randomNormal([n, 3, 2, 2], 0, 1, 'float32', n);
      const got = run(folded, x).y;
      const want = run(plain, x).y;
      expect(got.shape).toEqual([n, 16 + 8]);
      expect(Array.from(got.dataSync())).toEqual(Array.from(want.dataSync()));
      entries.push(folded.foldedEntries);
      tf.dispose([x, got, want]);
    }
    // Batch 5 adds entries for the nodes that depend on the batch; repeating a shape adds none.
    expect(entries[1]).toBeGreaterThan(entries[0]);
    expect(entries[2]).toBe(entries[1]);
    expect(entries[3]).toBe(entries[1]);
    folded.dispose();
    plain.dispose();
  });

  it.each([true, false])('neither leaks nor hands out cached tensors (folding %s)', (foldShapes) => {
    const exec = new Executor(model, { registry: onnxOps, foldShapes });
    const x = tf.randomNormal([3, 3, 2, 2], 0, 1, 'float32', 7);
    tf.dispose(Object.values(run(exec, x, ['y', 'targetCopy'])));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const out = run(exec, x, ['y', 'targetCopy']);
      expect(Array.from(out.targetCopy.dataSync())).toEqual([3, 2, -1]);
      tf.dispose(Object.values(out));
    }
    expect(tf.memory().numTensors).toBe(before);
    exec.dispose();
    x.dispose();
  });
});
