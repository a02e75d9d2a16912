import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Executor,
  firstBatch,
  OnnxRuntimeEngine,
  InterpreterEngine,
  initBackend,
  maxRelativeDifference,
  openDataset,
  opRegistry,
  readModel,
  type Batch,
  type HostTensor,
  type Model,
  type RunEngine,
  writtenOp,
} from '../src/internal.js';
import { FMNIST_NORM, expectedOutputs, fixtureModel, hasFixture } from './fixtures.js';
import { skipNote } from './support/skip.js';
import { buildModel, floatScalar, int, node, sineTensor, valueInfo } from './support/model-builder.js';

// Transformer encoders exported by PyTorch (fixtures/make_transformers.py): a ViT trained on Fashion-MNIST
// (opset 13: LayerNorm written as ReduceMean/Sub/Pow/Sqrt/Div, GELU with Erf), one untrained ViT's weights at
// opsets 13, 17 (LayerNormalization) and 20 (Gelu), and a BERT-style encoder over token ids with an attention
// mask. pg runs each like ONNX Runtime, and its gradients through both LayerNorm forms agree.

const VIT = 'vit-fmnist';
const TINY = ['vit-tiny-opset13', 'vit-tiny-opset17', 'vit-tiny-opset20'];
const BERT = 'bert-tiny';

let batch: Batch;

const fixtureSkipNote = (name: string) => skipNote(hasFixture(name), `no fixture ${fixtureModel(name)}: regenerate with fixtures/make_transformers.py`);

beforeAll(async () => {
  await initBackend('wasm');
  const test = await openDataset('fashion-mnist:test?source=bundled', FMNIST_NORM);
  batch = await firstBatch(test.batches(16, { limit: 16 }));
});

/** Output 0 of `model` on `feeds`, run by `backend`. */
async function output(backend: RunEngine, model: Model, feeds: Record<string, HostTensor>): Promise<Float32Array> {
  const session = await backend.load(model);
  try {
    const name = model.graph.outputs[0].name;
    return (await session.run(feeds, [name]))[name].data as Float32Array;
  } finally {
    await session.dispose();
  }
}

const images = (): Record<string, HostTensor> => ({ input: { dtype: 'float32', shape: batch.shape, data: batch.x } });

describe.skipIf(!hasFixture(VIT))(`the ViT trained on Fashion-MNIST (opset 13)${fixtureSkipNote(VIT)}`, () => {
  it('runs in pg like in ONNX Runtime (to 1e-4) and gives PyTorch logits', async () => {
    const model = await readModel(fixtureModel(VIT));
    const ops = new Set(model.graph.nodes.map((n) => n.opType));
    for (const op of ['Erf', 'Pow', 'Sqrt', 'ReduceMean', 'MatMul', 'Softmax']) expect(ops.has(op), op).toBe(true);
    const ours = await output(new InterpreterEngine('wasm'), model, images());
    const ort = await output(new OnnxRuntimeEngine(), model, images());
    expect(maxRelativeDifference(ours, ort)).toBeLessThan(1e-4);
    const torch = expectedOutputs(VIT).logits.flat();
    expect(maxRelativeDifference(ours, torch)).toBeLessThan(1e-4);
  });
});

describe.skipIf(!TINY.every(hasFixture))(`one ViT at opsets 13, 17 (LayerNormalization) and 20 (Gelu)${fixtureSkipNote(TINY[2])}`, () => {
  let models: Model[];
  beforeAll(async () => {
    models = await Promise.all(TINY.map((name) => readModel(fixtureModel(name))));
  });

  it('each form runs in pg like in ONNX Runtime, and all three mean the same', async () => {
    const ops = models.map((m) => new Set(m.graph.nodes.map((n) => n.opType)));
    expect([ops[0].has('LayerNormalization'), ops[1].has('LayerNormalization'), ops[2].has('Gelu'), ops[2].has('Erf')]).toEqual([false, true, true, false]);
    const outs: Float32Array[] = [];
    for (const model of models) {
      const ours = await output(new InterpreterEngine('wasm'), model, images());
      expect(maxRelativeDifference(ours, await output(new OnnxRuntimeEngine(), model, images())), model.sourcePath).toBeLessThan(1e-4);
      outs.push(ours);
    }
    expect(maxRelativeDifference(outs[1], outs[0])).toBeLessThan(1e-4);
    expect(maxRelativeDifference(outs[2], outs[0])).toBeLessThan(1e-4);
  });

  it('trains: the gradients through every form agree, and with central differences', () => {
    // The loss's gradient for the first block's MLP weights and LayerNorm scale, through the decomposed
    // LayerNorm (ReduceMean, Sub, Pow, Sqrt, Div), LayerNormalization and the Gelu op.
    const grads = models.map((model) => lossGradients(model));
    const names = Object.keys(grads[0]);
    expect(names).toHaveLength(3);
    for (const g of grads.slice(1)) {
      for (const [i, name] of names.entries()) expect(maxRelativeDifference(g[Object.keys(g)[i]], grads[0][name]), name).toBeLessThan(1e-3);
    }
    const fd = centralDifferences(models[1], 6);
    const analytic = grads[1][Object.keys(grads[1])[0]];
    fd.forEach(({ index, value }) => expect(Math.abs(analytic[index] - value), `element ${index}`).toBeLessThan(1e-4 + 0.02 * Math.abs(value)));
  });
});

describe.skipIf(!hasFixture(TINY[0]))(`LayerNorm and GELU written out as ops (opset 13)${fixtureSkipNote(TINY[0])}`, () => {
  it('run as one kernel each, with the values and gradients of the ops they stand for', async () => {
    const model = await readModel(fixtureModel(TINY[0]));
    const g = model.graph;
    const readers = new Map<string, typeof g.nodes>();
    for (const n of g.nodes) for (const i of n.inputs) readers.set(i, [...(readers.get(i) ?? []), n]);
    const producers = new Map(g.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
    const found = g.nodes.map((n) => writtenOp(n, { graph: g, readers, producers, keep: new Set(g.outputs.map((o) => o.name)) })).filter((op) => op !== undefined);
    // Two LayerNorms a block and the final one; one GELU a block.
    expect(found.map((op) => op.kind).sort()).toEqual(['gelu', 'gelu', 'layer-norm', 'layer-norm', 'layer-norm', 'layer-norm', 'layer-norm']);
    // Asking for a value inside a pattern runs its ops one by one: the reference.
    const inner = found.map((op) => op.nodes[1].outputs[0]);
    const fused = lossGradients(model);
    const ops = lossGradients(model, inner);
    for (const name of Object.keys(fused)) expect(maxRelativeDifference(fused[name], ops[name]), name).toBeLessThan(1e-5);
  });
});

/** Trained-parameter names of the first block: fc1's MatMul weight and bias, norm1's scale, in this model's names. */
function firstBlockParams(model: Model): string[] {
  const g = model.graph;
  const fc1 = g.nodes.find((n) => n.opType === 'MatMul' && n.name.includes('blocks.0') && n.name.includes('fc1'))!;
  const add = g.nodes.find((n) => n.opType === 'Add' && n.inputs.includes(fc1.outputs[0]))!;
  const bias = add.inputs.find((i) => g.initializers.has(i))!;
  const ln = g.nodes.find(
    (n) => n.name.includes('blocks.0') && n.name.includes('norm1') && (n.opType === 'LayerNormalization' || (n.opType === 'Mul' && n.inputs.some((i) => g.initializers.has(i)))),
  )!;
  const scale = ln.inputs.find((i, k) => (ln.opType === 'LayerNormalization' ? k === 1 : g.initializers.has(i)))!;
  return [fc1.inputs[1], bias, scale];
}

function crossEntropy(logits: tf.Tensor, labels: Int32Array): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(labels, 'int32'), logits.shape[1]!), logits as tf.Tensor2D) as tf.Scalar;
}

/**
 * d(loss)/d(parameter) for the first block's parameters, by the executor's training run on the wasm backend;
 * `inner` values are asked for too (which runs the ops that compute them one by one).
 */
function lossGradients(model: Model, inner: string[] = []): Record<string, Float32Array> {
  const exec = new Executor(model, { registry: opRegistry });
  try {
    return tf.tidy(() => {
      const names = firstBlockParams(model);
      const vars = names.map((n) => tf.variable(exec.param(n)!.clone(), true, `${model.sourcePath}:${n}`));
      names.forEach((n, i) => exec.setParam(n, vars[i]));
      const x = tf.tensor(batch.x, batch.shape);
      const { grads } = tf.variableGrads(() => crossEntropy(exec.run({ input: x }, { training: true, outputs: ['logits', ...inner] }).logits, batch.y!));
      const out = Object.fromEntries(names.map((n, i) => [n, grads[vars[i].name].dataSync() as Float32Array]));
      vars.forEach((v) => v.dispose());
      return out;
    });
  } finally {
    exec.dispose();
  }
}

/** Central differences of the loss in `count` elements of fc1's weight (step 1e-2, in float32). */
function centralDifferences(model: Model, count: number): { index: number; value: number }[] {
  const exec = new Executor(model, { registry: opRegistry });
  const [name] = firstBlockParams(model);
  const base = exec.param(name)!.dataSync() as Float32Array;
  const h = 1e-2;
  const loss = (w: Float32Array) =>
    tf.tidy(() => {
      exec.setParam(name, tf.tensor(w, exec.param(name)!.shape));
      return crossEntropy(exec.run({ input: tf.tensor(batch.x, batch.shape) }).logits, batch.y!).dataSync()[0];
    });
  try {
    return Array.from({ length: count }, (_, k) => {
      const index = Math.floor(((k + 0.5) / count) * base.length);
      const at = (d: number) => loss(Float32Array.from(base, (v, i) => (i === index ? v + d : v)));
      return { index, value: (at(h) - at(-h)) / (2 * h) };
    });
  } finally {
    exec.dispose();
  }
}

describe.skipIf(!hasFixture(BERT))(`a BERT-style encoder (token ids, an attention mask, dynamic batch and length)${fixtureSkipNote(BERT)}`, () => {
  it('runs in pg like in ONNX Runtime, padded or not, at two sequence lengths', async () => {
    const model = await readModel(fixtureModel(BERT));
    for (const [n, t] of [
      [3, 8],
      [2, 13],
    ]) {
      const ids = BigInt64Array.from({ length: n * t }, (_, i) => BigInt((i * 37 + 11) % 100));
      // The last sample is padded after its first t - 3 tokens.
      const mask = BigInt64Array.from({ length: n * t }, (_, i) => (Math.floor(i / t) === n - 1 && i % t >= t - 3 ? 0n : 1n));
      const feeds: Record<string, HostTensor> = { input_ids: { dtype: 'int64', shape: [n, t], data: ids }, attention_mask: { dtype: 'int64', shape: [n, t], data: mask } };
      const ours = await output(new InterpreterEngine('wasm'), model, feeds);
      expect(ours).toHaveLength(n * 2);
      expect(maxRelativeDifference(ours, await output(new OnnxRuntimeEngine(), model, feeds)), `${n}x${t}`).toBeLessThan(1e-4);
    }
  });
});

describe('what pg cannot follow', () => {
  it("a decoder's causal mask built with Trilu is refused before any data is read, naming the node and the op", () => {
    // scores [N, T, T] + where(Trilu(ones), 0, -inf): the mask of a causal attention.
    const model = buildModel({
      opset: 14,
      nodes: [
        node('Trilu', ['ones'], 'lower', {}, '/attn/Trilu'),
        node('Where', ['lowerB', 'zero', 'ninf'], 'mask'),
        node('Cast', ['lower'], 'lowerB', { to: int(9) }),
        node('Add', ['scores', 'mask'], 'y'),
      ],
      initializers: [sineTensor('ones', [4, 4], 0, { scale: 0, step: 0 }), floatScalar('zero', 0), floatScalar('ninf', -1e9)],
      inputs: [valueInfo('scores', [1, 4, 4])],
      outputs: [valueInfo('y')],
    });
    const attempt = () => new Executor(model, { registry: opRegistry });
    expect(attempt).toThrow(expect.objectContaining({ code: 'PG_UNSUPPORTED', message: expect.stringMatching(/node '\/attn\/Trilu' uses op 'Trilu', which pg cannot run/) }));
  });
});
