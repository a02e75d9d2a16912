import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  FINETUNE_DEFAULTS,
  Executor,
  UnsupportedModelError,
  convertModel,
  finetune,
  initBackend,
  nativeThreads,
  nativeUnavailableReason,
  openDataset,
  opRegistry,
  readModel,
  setNativeThreads,
  type Dataset,
  type FinetuneCheckpoint,
  type Model,
} from '../src/internal.js';
import { DataParallelGradients } from '../src/train/parallel/data-parallel.js';
import { shardsOf, shardsOfWorker } from '../src/train/parallel/shards.js';
import { FMNIST_NORM, fixtureModel } from './fixtures.js';
import { nativeSkipReason } from './support/native.js';

let gated: Model;
let train: Dataset;

beforeAll(async () => {
  await initBackend('wasm');
  gated = convertModel(await readModel(fixtureModel('tiny-cnn')), { bits: 4, hbits: 2, wbits: 8, actScale: 'static' }).model;
  train = await openDataset('fashion-mnist:train?source=bundled', FMNIST_NORM);
});

const opts = { ...FINETUNE_DEFAULTS, maxSteps: 2, batchSize: 16, calibrationBatches: 1, targetSparsity: 0.8, trainWeights: true, shards: 4, seed: 3 };

/** Every trained initializer's values, by name. */
function trained(m: Model, names: string[]): Record<string, number[]> {
  return Object.fromEntries(names.map((n) => [n, Array.from(m.graph.initializers.get(n)!.data() as Float32Array)]));
}

describe('shards', () => {
  it('cut a batch into fixed shards and deal them to workers round-robin', () => {
    expect(shardsOf(10, 4).map((s) => [s.start, s.end])).toEqual([
      [0, 2],
      [2, 5],
      [5, 7],
      [7, 10],
    ]);
    expect(shardsOf(3, 4)).toHaveLength(3);
    expect(shardsOfWorker(shardsOf(8, 4), 1, 2).map((s) => s.index)).toEqual([1, 3]);
  });
});

describe('data-parallel finetune', () => {
  it('gives bit-identical parameters with 1, 2 and 3 workers', async () => {
    const one = await finetune(gated, train, { ...opts, workers: 1 });
    const two = await finetune(gated, train, { ...opts, workers: 2 });
    const three = await finetune(gated, train, { ...opts, workers: 3 });
    const names = one.result.trained;
    expect(names.length).toBeGreaterThan(4); // thresholds, scales and weights
    const ref = trained(one.model, names);
    expect(trained(two.model, names)).toEqual(ref);
    expect(trained(three.model, names)).toEqual(ref);
    expect(two.result.final_loss).toBe(one.result.final_loss);
    expect(three.result.final_sparsity).toBe(one.result.final_sparsity);
    // and training moved them (the comparison is not between untouched copies)
    const before = trained(
      gated,
      names.filter((n) => gated.graph.initializers.has(n)),
    );
    expect(Object.keys(before).some((n) => JSON.stringify(before[n]) !== JSON.stringify(ref[n]))).toBe(true);
  });

  it.skipIf(nativeUnavailableReason() !== undefined)(
    `runs oneDNN at a fixed thread count: identical parameters whatever threads the caller had set, which it gets back${nativeSkipReason}`,
    async () => {
      const before = setNativeThreads(2);
      try {
        const a = await finetune(gated, train, { ...opts, workers: 1 });
        expect(nativeThreads()).toBe(2);
        setNativeThreads(1);
        const b = await finetune(gated, train, { ...opts, workers: 1 });
        expect(nativeThreads()).toBe(1);
        expect(trained(b.model, b.result.trained)).toEqual(trained(a.model, a.result.trained));
      } finally {
        if (before !== undefined) setNativeThreads(before);
      }
    },
  );

  it('with other shard counts, the loss is a different (but still deterministic) function', async () => {
    const a = await finetune(gated, train, { ...opts, workers: 2, shards: 2 });
    const c = await finetune(gated, train, { ...opts, workers: 1, shards: 4 });
    const names = a.result.trained;
    expect(trained(c.model, names)).not.toEqual(trained(a.model, names));
  });

  it("resumed with distillation on two workers, ends with the uninterrupted run's model: workers distill from the float model given, not from the checkpoint's weights", async () => {
    const run = { ...opts, maxSteps: 4, distill: true, workers: 2 };
    let saved: FinetuneCheckpoint | undefined;
    const whole = await finetune(gated, train, { ...run, checkpointEvery: 2 }, { onCheckpoint: async (c) => void (saved ??= c) });
    expect(saved?.position.step).toBe(2);
    const resumed = await finetune(gated, train, run, { resume: saved });
    expect(resumed.result.resumed_from_step).toBe(2);
    expect(trained(resumed.model, resumed.result.trained)).toEqual(trained(whole.model, whole.result.trained));
    expect(resumed.result.final_loss).toBe(whole.result.final_loss);
  });

  it('stops when aborted, and the worker threads end', async () => {
    const ctrl = new AbortController();
    const { result } = await finetune(gated, train, { ...opts, maxSteps: 50, workers: 2 }, { signal: ctrl.signal, onProgress: (p) => p.step === 2 && ctrl.abort() });
    expect(result.steps).toBe(2);
  });

  it('returns an error inside a worker as the same PgError type, and ends the workers', async () => {
    // The workers get a model with an op pg cannot run; the main thread's own model is fine.
    const exec = new Executor(gated, { registry: opRegistry });
    const bad: Model = { ...gated, graph: { ...gated.graph, nodes: gated.graph.nodes.map((n, i) => (i === 0 ? { ...n, opType: 'NoSuchOp', domain: '' } : n)) } };
    const thr = gated.graph.initializers.keys().next().value as string;
    const v = tf.variable(exec.param(thr)!, true, 'parallel-test/param');
    try {
      const start = DataParallelGradients.start({
        model: bad,
        main: { exec, vars: [v], thresholds: [] },
        params: [thr],
        thresholds: [],
        spec: { inputName: gated.graph.inputs[0].name, outputName: gated.graph.outputs[0].name, numClasses: 10, penalty: 0, gateTarget: 0, sparsityWeight: 0, settings: {} },
        options: { workers: 2, shards: 2 },
        batchSize: 4,
        sampleShape: [1, 28, 28],
      });
      await expect(start).rejects.toBeInstanceOf(UnsupportedModelError);
      await expect(start).rejects.toThrow(/NoSuchOp/);
    } finally {
      v.dispose();
      exec.dispose();
    }
  });
});
