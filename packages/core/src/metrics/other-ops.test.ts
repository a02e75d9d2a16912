import { beforeAll, describe, expect, it } from 'vitest';
import { datasetFromArrays } from '../data/index.js';
import type { Node } from '../graph/index.js';
import { readModel } from '../onnx/index.js';
import { convertModel } from '../gating/convert.js';
import { opRegistry } from '../gating/op-registry.js';
import { OpRegistry, ONNX_OPS, initBackend } from '../interpreter/index.js';
import { fixtureModel } from '../../test/fixtures.js';
import { COST_OPS } from './layer-cost.js';
import { nodeOps, otherOpCounts } from './other-ops.js';
import { reportModel } from './report.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const node = (opType: string, inputs: string[], output: string, attributes: Node['attributes'] = {}): Node => ({
  name: output,
  opType,
  domain: '',
  inputs,
  outputs: [output],
  attributes,
});

describe('other ops: operations per sample', () => {
  const shapes = new Map<string, number[]>([
    ['x', [1, 4, 8, 8]],
    ['r', [1, 4, 8, 8]],
    ['p', [1, 4, 3, 3]],
    ['g', [1, 4, 1, 1]],
    ['s', [1, 4, 8, 8]],
    ['f', [1, 36]],
    ['m', [1, 10]],
    ['bn', [1, 4, 8, 8]],
    ['sm', [1, 10]],
  ]);
  it('counts each kind by hand: element-wise 1, pooling k_h·k_w, reductions per input, variadic n − 1, BN 2, softmax 3, MatMul K, movement 0', () => {
    expect(nodeOps(node('Relu', ['x'], 'r'), shapes)).toBe(256);
    // 3x3 windows over 4 x 3 x 3 outputs
    expect(nodeOps(node('MaxPool', ['r'], 'p', { kernel_shape: { type: 'ints', value: [3, 3] } }), shapes)).toBe(36 * 9);
    expect(nodeOps(node('GlobalAveragePool', ['r'], 'g'), shapes)).toBe(256);
    expect(nodeOps(node('Sum', ['x', 'r', 'bn'], 's'), shapes)).toBe(512);
    expect(nodeOps(node('Add', ['x', 'r'], 's'), shapes)).toBe(256);
    expect(nodeOps(node('BatchNormalization', ['x', 'a', 'b', 'c', 'd'], 'bn'), shapes)).toBe(512);
    expect(nodeOps(node('Softmax', ['m'], 'sm'), shapes)).toBe(30);
    expect(nodeOps(node('MatMul', ['f', 'w'], 'm'), shapes)).toBe(360);
    expect(nodeOps(node('Flatten', ['p'], 'f'), shapes)).toBe(0);
    // Conv/Gemm layers are priced as layers, not here.
    expect(nodeOps(node('Conv', ['x', 'w'], 'r'), shapes)).toBe(0);
  });

  it("takes each op's class from its declaration, and refuses an op without one", () => {
    const relu = ONNX_OPS.find((d) => d.op === 'Relu')!;
    const asMovement = new OpRegistry([{ ...relu, cost: 'movement' }]);
    expect(nodeOps(node('Relu', ['x'], 'r'), shapes, asMovement)).toBe(0);
    expect(() => nodeOps(node('Upsample', ['x'], 'r'), shapes)).toThrow(/no cost class for op 'Upsample'/);
    // Every op pg runs has one (the declaration requires it), and the layers priced by their MACs are the
    // ops of class 'layer'.
    for (const d of opRegistry.declarations()) expect(opRegistry.cost(d.domain, d.op)).toBe(d.cost);
    expect(
      new Set(
        opRegistry
          .declarations()
          .filter((d) => d.cost === 'layer')
          .map((d) => d.op),
      ),
    ).toEqual(COST_OPS);
  });

  it('reportModel counts tiny-cnn (gated or not) by op type', async () => {
    // tiny-cnn: conv1 → Relu [8,28,28] → conv2 → Relu [8,28,28] → MaxPool 2x2 → [8,14,14] → conv3 → Relu [16,7,7]
    // → GlobalAveragePool (784 inputs) → Flatten → fc.
    const expected = [
      { op: 'Relu', nodes: 3, ops: 6272 + 6272 + 784 },
      { op: 'MaxPool', nodes: 1, ops: 1568 * 4 },
      { op: 'GlobalAveragePool', nodes: 1, ops: 784 },
      { op: 'Flatten', nodes: 1, ops: 0 },
    ];
    const float = await readModel(fixtureModel('tiny-cnn'));
    const data = datasetFromArrays(
      { dtype: 'float32', shape: [3, 1, 28, 28], data: new Float32Array(3 * 784).fill(0.5) },
      { dtype: 'int64', shape: [3], data: BigInt64Array.from([0n, 1n, 2n]) },
      { x: 'x', y: 'y', name: 'constant' },
    );
    expect((await reportModel(float, data, { batchSize: 2 })).other_ops).toEqual(expected);
    const { model } = convertModel(float, { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic' });
    expect((await reportModel(model, data, { batchSize: 2 })).other_ops).toEqual(expected);
    expect(otherOpCounts([], new Map())).toEqual([]);
  });
});
