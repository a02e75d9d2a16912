import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upgradeOpset } from '../src/graph/passes/upgrade-opset.js';
import {
  Executor,
  UnsupportedModelError,
  convertModel,
  initBackend,
  inspectModel,
  maxRelativeDifference,
  onnxOpset,
  opRegistry,
  readModel,
  writeModel,
  type AttributeValue,
  type Model,
  type Node,
} from '../src/internal.js';
import { buildModel, float, int, ints, node as namedNode, sineTensor, valueInfo } from './support/model-builder.js';

// PyTorch exports at opsets 9 and 10 keep Clip's bounds, Pad's pads and Slice's ranges in attributes; pg
// writes gated models at opset 12, so convert rewrites those nodes. The rewritten graph must compute the
// same thing, and ONNX Runtime must load the gated model.

const dir = mkdtempSync(join(tmpdir(), 'pg-opset-'));
beforeAll(async () => {
  await initBackend('wasm');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Named like PyTorch's exporter names nodes ('/c1/Conv'), which convert reports as the layer names.
const node = (opType: string, inputs: string[], output: string, attributes: Record<string, AttributeValue> = {}): Node =>
  namedNode(opType, inputs, output, attributes, `/${output}/${opType}`);
const weights = (name: string, dims: number[], seed: number) => sineTensor(name, dims, seed, { step: 0.37, scale: 0.5 });

/** conv → Clip(0, 6) → Pad → conv → Relu → Slice → Dropout → GlobalAveragePool → Flatten → Gemm, at opset 9. */
function opset9Model(): Model {
  const nodes = [
    node('Conv', ['x', 'w0', 'b0'], 'c0', { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) }),
    node('Clip', ['c0'], 'r0', { min: float(0), max: float(6) }),
    node('Pad', ['r0'], 'p0', { pads: ints([0, 0, 1, 1, 0, 0, 1, 1]), value: float(0.25) }),
    node('Conv', ['p0', 'w1', 'b1'], 'c1', { kernel_shape: ints([3, 3]) }),
    node('Relu', ['c1'], 'r1'),
    node('Conv', ['r1', 'w2', 'b2'], 'c2', { kernel_shape: ints([1, 1]) }),
    node('Relu', ['c2'], 'r2'),
    node('Slice', ['r2'], 's2', { starts: ints([1, 0]), ends: ints([7, 5]), axes: ints([2, 3]) }),
    node('Dropout', ['s2'], 'd2', { ratio: float(0.2) }),
    node('GlobalAveragePool', ['d2'], 'g'),
    node('Flatten', ['g'], 'f'),
    node('Gemm', ['f', 'wf', 'bf'], 'y', { transB: int(1) }),
  ];
  const inits = [
    weights('w0', [6, 3, 3, 3], 1),
    weights('b0', [6], 2),
    weights('w1', [8, 6, 3, 3], 3),
    weights('b1', [8], 4),
    weights('w2', [8, 8, 1, 1], 5),
    weights('b2', [8], 6),
    weights('wf', [5, 8], 7),
    weights('bf', [5], 8),
  ];
  return buildModel({
    irVersion: 4,
    opset: 9,
    nodes,
    initializers: inits,
    inputs: [valueInfo('x', ['N', 3, 8, 8])],
    outputs: [valueInfo('y', ['N', 5])],
  });
}

const input = Float32Array.from({ length: 2 * 3 * 8 * 8 }, (_, i) => Math.cos(i * 0.13) * 2);

function runPg(m: Model): Float32Array {
  const exec = new Executor(m, { registry: opRegistry });
  try {
    return tf.tidy(() => exec.run({ x: tf.tensor(input, [2, 3, 8, 8]) }).y.dataSync() as Float32Array);
  } finally {
    exec.dispose();
  }
}

async function runOrt(path: string): Promise<Float32Array> {
  const sess = await ort.InferenceSession.create(path);
  const out = await sess.run({ x: new ort.Tensor('float32', input, [2, 3, 8, 8]) });
  return out.y.data as Float32Array;
}

describe('upgradeOpset', () => {
  it('moves Clip, Pad, Slice and Dropout attributes into inputs and computes the same outputs', () => {
    const old = opset9Model();
    const up = upgradeOpset(old, 12, opRegistry);
    expect(onnxOpset(up)).toBe(12);
    const byOp = (op: string) => up.graph.nodes.find((n) => n.opType === op)!;
    expect(byOp('Clip').attributes).toEqual({});
    expect(Array.from(up.graph.initializers.get(byOp('Clip').inputs[1])!.data() as Float32Array)).toEqual([0]);
    expect(Array.from(up.graph.initializers.get(byOp('Clip').inputs[2])!.data() as Float32Array)).toEqual([6]);
    expect(Object.keys(byOp('Pad').attributes)).toEqual([]);
    expect(byOp('Slice').inputs).toHaveLength(4);
    expect(byOp('Dropout').attributes).toEqual({});
    // the original is untouched
    expect(old.graph.nodes.find((n) => n.opType === 'Clip')!.inputs).toEqual(['c0']);
    expect(maxRelativeDifference(runPg(up), runPg(old))).toBeLessThan(1e-6);
  });

  it('leaves a model at or above the target as it is', () => {
    const m = { ...opset9Model(), opsetImports: [{ domain: '', version: 13 }] };
    expect(upgradeOpset(m, 12, opRegistry)).toBe(m);
  });

  it('refuses ops whose older form it does not rewrite', () => {
    const m = opset9Model();
    m.graph.nodes.push(node('Upsample', ['y', 'scales'], 'u'));
    expect(() => upgradeOpset(m, 12, opRegistry)).toThrow(UnsupportedModelError);
    expect(() => upgradeOpset(m, 12, opRegistry)).toThrow(/Upsample/);
    // and `pg inspect` says so, while the same model without it converts
    expect(inspectModel(m).convert_blocker).toMatch(/Upsample.*re-export/);
    expect(inspectModel(opset9Model()).convert_blocker).toBeNull();
  });

  it('lets convert gate an opset-9 model that ONNX Runtime then runs like pg', async () => {
    const { model: gated, layers } = convertModel(opset9Model(), { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic' });
    expect(layers.filter((l) => l.gated).map((l) => l.name)).toEqual(['/c1/Conv', '/c2/Conv']);
    expect(onnxOpset(gated)).toBe(12);
    expect(gated.irVersion).toBeGreaterThanOrEqual(8);
    const path = join(dir, 'gated.onnx');
    await writeModel(gated, path);
    const ours = runPg(await readModel(path));
    expect(maxRelativeDifference(ours, await runOrt(path))).toBeLessThan(1e-4);
  });
});
