import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  FINETUNE_DEFAULTS,
  UsageError,
  convertModel,
  datasetFromArrays,
  finetune,
  initBackend,
  openDataset,
  pgLayers,
  readCheckpoint,
  readModel,
  reportModel,
  shiftThresholdsToTarget,
  writeCheckpoint,
  type Dataset,
  type FinetuneCheckpoint,
  type Model,
} from '../src/internal.js';
import { FMNIST_NORM, fixtureModel } from './fixtures.js';
import { firstBatch } from '../src/data/index.js';

let gated: Model;
let train: Dataset;
let test: Dataset;

beforeAll(async () => {
  await initBackend('wasm');
  gated = convertModel(await readModel(fixtureModel('tiny-cnn')), { bits: 4, hbits: 2, wbits: 8, actScale: 'static' }).model;
  train = await openDataset('fashion-mnist:train?source=bundled', FMNIST_NORM);
  test = await openDataset('fashion-mnist:test?source=bundled', FMNIST_NORM);
});

const thresholds = (m: Model) =>
  pgLayers(m)
    .filter((l) => l.gated)
    .flatMap((l) => Array.from(m.graph.initializers.get(l.threshold!)!.data() as Float32Array));
const opts = { ...FINETUNE_DEFAULTS, maxSteps: 3, batchSize: 32, calibrationBatches: 2, targetSparsity: 0.8, trainWeights: true };

describe('finetune', () => {
  it('calibrates, trains the thresholds and reaches about the target sparsity', async () => {
    const { model, result } = await finetune(gated, train, { ...opts, seed: 1 });
    expect(result.steps).toBe(3);
    expect(Number.isFinite(result.final_loss)).toBe(true);
    expect(result.calibrated).toEqual({ thresholds: true, act_scales: true });
    expect(thresholds(model).some((t) => t !== 0)).toBe(true);
    const report = await reportModel(model, test, { batchSize: 200, limit: 400 });
    expect(report.sparsity).toBeGreaterThan(0.7);
    expect(report.act_scale).toBe('static');
    expect(report.bavg).toBeCloseTo(2 + (1 - report.sparsity) * 2, 6);
  });

  it('is deterministic for a seed and differs between seeds', async () => {
    const a = await finetune(gated, train, { ...opts, seed: 7 });
    const b = await finetune(gated, train, { ...opts, seed: 7 });
    const c = await finetune(gated, train, { ...opts, seed: 8 });
    expect(thresholds(b.model)).toEqual(thresholds(a.model));
    expect(b.result.final_loss).toBe(a.result.final_loss);
    expect(thresholds(c.model)).not.toEqual(thresholds(a.model));
  });

  it('fine-tunes on array data (NPZ/NPY), taking the number of classes from the model', async () => {
    const b = await firstBatch(train.batches(16, { limit: 16 }));
    const arrays = datasetFromArrays(
      { dtype: 'float32', shape: b.shape, data: b.x },
      { dtype: 'int64', shape: [16], data: BigInt64Array.from(b.y!, (v) => BigInt(v)) },
      { x: 'x', name: 'arrays' },
    );
    expect(arrays.numClasses).toBeUndefined();
    const { result } = await finetune(gated, arrays, { ...opts, batchSize: 8, maxSteps: 2, calibrationBatches: 1 });
    expect(result.steps).toBe(2);
    expect(Number.isFinite(result.final_loss)).toBe(true);
  });

  it('stops when aborted and returns what it trained', async () => {
    const ctrl = new AbortController();
    const { result } = await finetune(gated, train, { ...opts, maxSteps: 50 }, { signal: ctrl.signal, onProgress: (p) => p.step === 2 && ctrl.abort() });
    expect(result.steps).toBe(2);
  });
});

/** Every tensor fine-tuning may change, by name. */
const trainedTensors = (m: Model, names: string[]) => Object.fromEntries(names.map((n) => [n, Array.from(m.graph.initializers.get(n)!.data() as Float32Array)]));

describe('finetune: held-out evaluation, time budget, checkpoints', () => {
  // Weights, both optimizers, the cosine schedule, a hold-out and evaluations: everything a resume must restore.
  const run = { ...opts, maxSteps: 5, evalSplit: 0.1, evalEvery: 2, seed: 3 };
  let saved: FinetuneCheckpoint | undefined;

  it('resumed from a checkpoint, ends with the same model bit for bit as a run without interruption', async () => {
    // --checkpoint-every may differ between the runs; it hands out checkpoints and changes nothing else.
    const periodic: number[] = [];
    const whole = await finetune(gated, train, { ...run, checkpointEvery: 2 }, { onCheckpoint: async (c) => void periodic.push(c.position.step) });
    expect(periodic).toEqual([2, 4]);
    expect(whole.result.stopped).toBe('completed');
    expect(whole.result.evaluations.map((e) => e.step)).toEqual([2, 4, 5]);

    const ctrl = new AbortController();
    const first = await finetune(gated, train, run, {
      signal: ctrl.signal,
      onProgress: (p) => p.step === 3 && ctrl.abort(),
      onCheckpoint: async (c) => void (saved = c),
    });
    expect(first.result.stopped).toBe('interrupted');
    expect(first.result.steps).toBe(3);
    expect(saved?.position).toMatchObject({ step: 3, epoch: 0, batch: 3 });
    // Through the files, as the CLI does.
    const dir = await mkdtemp(join(tmpdir(), 'pg-ckpt-'));
    try {
      await writeCheckpoint(join(dir, 'out.onnx.ckpt.json'), saved!);
      const ckpt = await readCheckpoint(join(dir, 'out.onnx.ckpt.json'));
      const resumed = await finetune(gated, train, run, { resume: ckpt });
      expect(resumed.result.resumed_from_step).toBe(3);
      expect(resumed.result.steps).toBe(5);
      expect(resumed.result.final_loss).toBe(whole.result.final_loss);
      expect(resumed.result.evaluations).toEqual(whole.result.evaluations);
      expect(resumed.result.trained).toEqual(whole.result.trained);
      expect(trainedTensors(resumed.model, resumed.result.trained)).toEqual(trainedTensors(whole.model, whole.result.trained));
      expect(resumed.model.metadata).toEqual(whole.model.metadata);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a checkpoint made with other options or another model, naming what differs', async () => {
    // The checkpoint of the test above.
    expect(saved).toBeDefined();
    const short = run;
    const other = convertModel(await readModel(fixtureModel('tiny-cnn')), { bits: 4, hbits: 1, wbits: 8, actScale: 'static' }).model;
    await expect(finetune(gated, train, { ...short, lr: 0.01 }, { resume: saved })).rejects.toThrow(/options differ: lr 0\.001 in the checkpoint, 0\.01 now/);
    await expect(finetune(other, train, short, { resume: saved })).rejects.toThrow(/another model/);
    await expect(finetune(gated, test, short, { resume: saved })).rejects.toThrow(/it trained on fashion-mnist:train/);
    await expect(finetune(gated, test, short, { resume: saved })).rejects.toBeInstanceOf(UsageError);
  });

  it('keeps the best evaluation meeting the target with keepBest', async () => {
    const { model, result } = await finetune(gated, train, { ...run, maxSteps: 3, evalEvery: 1, keepBest: true, targetSparsity: undefined, targetBavg: 2.4 });
    expect(result.target_sparsity).toBeCloseTo(0.8, 12);
    expect(result.evaluations.map((e) => e.step)).toEqual([1, 2, 3]);
    const eligible = result.evaluations.filter((e) => e.meets_target);
    if (eligible.length) {
      const top = Math.max(...eligible.map((e) => e.accuracy));
      const kept = result.evaluations.find((e) => e.step === result.kept.step)!;
      expect(result.kept.from).toBe('best');
      expect(kept.accuracy).toBe(top);
      expect(JSON.parse(model.metadata['pg.finetune']).steps).toBe(result.kept.step);
    } else {
      expect(result.kept).toEqual({ from: 'last', step: 3 });
    }
  });

  it('refuses held-out settings that do not fit together, before any work', async () => {
    await expect(finetune(gated, train, { ...opts, evalEvery: 2 })).rejects.toThrow(/--eval-every needs held-out data/);
    await expect(finetune(gated, train, { ...opts, keepBest: true })).rejects.toThrow(/--keep-best needs held-out data/);
    await expect(finetune(gated, train, { ...opts, evalSplit: 0.1 }, { evalData: test })).rejects.toThrow(/--eval-data and --eval-split both/);
    await expect(finetune(gated, train, { ...opts, batchSize: 5000 })).rejects.toThrow(/fewer than one batch of 5000/);
    await expect(finetune(gated, train, { ...opts, targetSparsity: 'none', finalCalibration: true })).rejects.toThrow(/--final-calibration needs a target/);
  });

  it('stops within the time budget, calibration counted, and hands out a checkpoint', async () => {
    let handed: FinetuneCheckpoint | undefined;
    const { result } = await finetune(gated, train, { ...opts, maxSteps: 50, timeBudgetMs: 1 }, { onCheckpoint: async (c) => void (handed = c) });
    expect(result.stopped).toBe('time-budget');
    expect(result.steps).toBe(0);
    expect(handed?.position.step).toBe(0);
  });

  it('lands on the target sparsity with a final calibration', async () => {
    const { model, result } = await finetune(gated, train, { ...opts, maxSteps: 4, finalCalibration: true, seed: 2 });
    const report = await reportModel(model, train, { batchSize: 200, limit: 400 });
    expect(result.target_sparsity).toBe(0.8);
    // The calibration sample is 2 batches of 32; 400 other samples land within a few points of 0.8.
    expect(Math.abs(report.sparsity - 0.8)).toBeLessThan(0.05);
  });

  it('shiftThresholdsToTarget moves each layer by one amount, onto the target sparsity', async () => {
    const byLayer = (m: Model) =>
      pgLayers(m)
        .filter((l) => l.gated)
        .map((l) => Array.from(m.graph.initializers.get(l.threshold!)!.data() as Float32Array));
    for (const target of [0.6, 0.9]) {
      const shifted = await shiftThresholdsToTarget(gated, train, target, { batches: 4, batchSize: 64, seed: 0 });
      const report = await reportModel(shifted, train, { batchSize: 200, limit: 400 });
      expect(Math.abs(report.sparsity - target)).toBeLessThan(0.03);
      byLayer(shifted).forEach((after, i) => {
        const moves = after.map((t, c) => t - byLayer(gated)[i][c]);
        for (const d of moves) expect(d).toBeCloseTo(moves[0], 5);
      });
    }
  });
});
