import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Executor,
  OBSERVE,
  OnnxRuntimeEngine,
  PG_DOMAIN,
  PG_DOMAIN_VERSION,
  PG_MATMUL,
  Q_MATMUL,
  functionsFor,
  initBackend,
  inlineFunctions,
  isPgNode,
  maxRelativeDifference,
  opRegistry,
  type HostTensor,
  type Model,
  type Node,
} from '../src/internal.js';
import { buildModel, floatScalar, int, node, sineTensor, valueInfo } from './support/model-builder.js';

// PGMatMul and QMatMul, pg's linear layers on token activations ([N, T, K] · [K, F] + [F]): pg's kernels
// and the ONNX function bodies ONNX Runtime runs compute the same float32 prediction and so the same gate
// decisions, for inputs of rank 2 to 4, static and dynamic scales.

beforeAll(async () => {
  await initBackend('wasm');
});

const K = 24;
const F = 20;

/** One pg MatMul layer on an input of `shape`, the model's output being the layer's (with the prediction as a second output for PGMatMul). */
function layerModel(op: string, shape: number[], dynamic: boolean): Model {
  const attrs = { bits: int(4), wbits: int(8), dynamic_scale: int(dynamic ? 1 : 0), ...(op === PG_MATMUL ? { hbits: int(2) } : {}) };
  const inputs = op === PG_MATMUL ? ['x', 'w', 'b', 'thr', 's'] : ['x', 'w', 'b', 's'];
  const layer: Node = { ...node(op, inputs, 'y', attrs, 'layer'), domain: PG_DOMAIN };
  const model = buildModel({
    opsetImports: [
      { domain: '', version: 17 },
      { domain: PG_DOMAIN, version: PG_DOMAIN_VERSION },
    ],
    nodes: [layer],
    initializers: [
      sineTensor('w', [K, F], 1, { step: 0.37, scale: 0.3 }),
      sineTensor('b', [F], 2, { scale: 0.2 }),
      sineTensor('thr', [F], 3, { scale: 0.4 }),
      floatScalar('s', dynamic ? 1e-12 : 2.5),
    ],
    inputs: [valueInfo('x', shape)],
    outputs: [valueInfo('y')],
  });
  return { ...model, functions: functionsFor(model) };
}

const input = (shape: number[]) => sineTensor('x', shape, 0.5, { step: 0.91, scale: 2 }).data() as Float32Array;

/** pg's output and, for PGMatMul, its prediction and gate (observed). */
function runPg(model: Model, shape: number[]) {
  const exec = new Executor(model, { registry: opRegistry });
  const seen: Record<string, Float32Array> = {};
  try {
    const y = tf.tidy(() => {
      const out = exec.run(
        { x: tf.tensor(input(shape), shape) },
        { observer: { wants: (_n, k) => k === OBSERVE.prediction || k === OBSERVE.gate, observe: (_n, k, t) => void (seen[k] = t.dataSync() as Float32Array) } },
      );
      return out.y.dataSync() as Float32Array;
    });
    return { y, prediction: seen[OBSERVE.prediction], gate: seen[OBSERVE.gate] };
  } finally {
    exec.dispose();
  }
}

/** ONNX Runtime on the function body inlined, with the prediction and the gate as outputs for PGMatMul. */
async function runOrt(model: Model, shape: number[]) {
  const graph = inlineFunctions(model, isPgNode);
  const greater = graph.nodes.find((n) => n.opType === 'Greater');
  const extra = greater ? [valueInfo(greater.inputs[0]), valueInfo(greater.outputs[0], undefined, 'bool')] : [];
  const session = await new OnnxRuntimeEngine().load({ ...model, graph: { ...graph, outputs: [...graph.outputs, ...extra] } });
  try {
    const out = await session.run({ x: { dtype: 'float32', shape, data: input(shape) } as HostTensor }, ['y', ...extra.map((e) => e.name)]);
    return {
      y: out.y.data as Float32Array,
      prediction: greater && (out[greater.inputs[0]].data as Float32Array),
      gate: greater && Float32Array.from(out[greater.outputs[0]].data as Uint8Array),
    };
  } finally {
    await session.dispose();
  }
}

const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => v === b[i]);

describe.each([
  [PG_MATMUL, [3, 7, K]],
  [PG_MATMUL, [5, K]],
  [PG_MATMUL, [2, 3, 4, K]],
  [Q_MATMUL, [3, 7, K]],
])('%s on an input of shape %j', (op, shape) => {
  for (const dynamic of [true, false]) {
    it(`computes in pg what its ONNX function computes in ONNX Runtime (${dynamic ? 'dynamic' : 'static'} scale)`, async () => {
      const model = layerModel(op as string, shape as number[], dynamic);
      const ours = runPg(model, shape as number[]);
      const theirs = await runOrt(model, shape as number[]);
      expect(ours.y).toHaveLength((shape as number[]).slice(0, -1).reduce((a, b) => a * b, 1) * F);
      expect(same(ours.y, theirs.y), 'outputs bit for bit').toBe(true);
      // And it is the layer X·W + B, at 4-bit activations and 8-bit weights.
      const reference = tf.tidy(() => {
        const w = model.graph.initializers;
        const x = tf.reshape(tf.tensor(input(shape as number[])), [-1, K]);
        return tf.add(tf.matMul(x, tf.tensor(w.get('w')!.data() as Float32Array, [K, F])), tf.tensor(w.get('b')!.data() as Float32Array)).dataSync();
      });
      expect(maxRelativeDifference(ours.y, reference)).toBeLessThan(op === Q_MATMUL ? 0.1 : 0.3);
      if (op !== PG_MATMUL) return;
      expect(same(ours.prediction, theirs.prediction!), 'predictions bit for bit').toBe(true);
      expect(same(ours.gate, theirs.gate!), 'gate decisions').toBe(true);
      const open = ours.gate.reduce((a, v) => a + v, 0);
      expect(open).toBeGreaterThan(0);
      expect(open).toBeLessThan(ours.gate.length);
    });
  }
});
