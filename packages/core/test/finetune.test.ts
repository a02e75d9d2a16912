import { beforeAll, describe, expect, it } from 'vitest';
import {
  FINETUNE_DEFAULTS,
  convertModel,
  datasetFromArrays,
  finetune,
  initBackend,
  openDataset,
  pgLayers,
  readModel,
  reportModel,
  type Dataset,
  type Model,
} from '../src/index.js';
import { FMNIST_NORM, fixtureModel } from './fixtures.js';

let gated: Model;
let train: Dataset;
let test: Dataset;

beforeAll(async () => {
  await initBackend('wasm');
  gated = convertModel(await readModel(fixtureModel('tiny-cnn')), { bits: 4, hbits: 2, wbits: 8, actScale: 'static' }).model;
  train = await openDataset('fashion-mnist:train?source=bundled', FMNIST_NORM);
  test = await openDataset('fashion-mnist:test?source=bundled', FMNIST_NORM);
});

const thresholds = (m: Model) => pgLayers(m).filter((l) => l.gated).flatMap((l) => Array.from(m.graph.initializers.get(l.threshold!)!.data() as Float32Array));
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
    const b = [...train.batches(16, { limit: 16 })][0];
    const arrays = datasetFromArrays({ dtype: 'float32', shape: b.shape, data: b.x }, { dtype: 'int64', shape: [16], data: BigInt64Array.from(b.y!, (v) => BigInt(v)) }, { x: 'x', name: 'arrays' });
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
