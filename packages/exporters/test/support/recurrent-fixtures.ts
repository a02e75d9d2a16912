import {
  calibrate,
  convertModel,
  finetune,
  FINETUNE_DEFAULTS,
  firstBatch,
  openDataset,
  readModel,
  rowSequences,
  type ConversionMode,
  type Dataset,
  type HostTensor,
  type Model,
} from '@pg/core/internal';
import { FIXTURES, FMNIST_NORM, fixtureModel } from './gated-fixtures.js';

/** The recurrent fixtures and the data they read: Fashion-MNIST images as 28 rows, and KJV character windows. */
export const RECURRENT_FIXTURE_DATA: Record<string, () => Promise<Dataset>> = {
  'row-lstm-fmnist': async () => rowSequences(await openDataset('fashion-mnist:train?source=bundled', FMNIST_NORM)),
  'char-lm-kjv': () => openDataset(`${FIXTURES}data/kjv-chars/test-subset.npz`),
  'row-gru-fmnist': async () => rowSequences(await openDataset('fashion-mnist:train?source=bundled', FMNIST_NORM)),
};

/**
 * The fixture converted as `pg convert` does by default (static: at 8 bits), calibrated and fine-tuned 2 steps; its
 * first `sequences` sequences (16 by default) as the model input and as a batch.
 */
export async function trainedRecurrent(name: string, mode: ConversionMode, sequences = 16): Promise<{ model: Model; x: HostTensor; batch: { x: Float32Array; shape: number[] } }> {
  const data = await RECURRENT_FIXTURE_DATA[name]();
  const { model } = convertModel(await readModel(fixtureModel(name)), { mode, bits: mode === 'static' ? 8 : 4, hbits: 2, wbits: 8, firstLayerBits: 8, actScale: 'static' });
  const calibrated = await calibrate(model, data, { batches: 1, batchSize: 16, seed: 0, scales: true, targetSparsity: mode === 'pg' ? 0.85 : undefined });
  const settings = { ...FINETUNE_DEFAULTS, maxSteps: 2, batchSize: 16, targetSparsity: mode === 'pg' ? 0.85 : ('none' as const), finalCalibration: false, workers: 1 };
  const tuned = (await finetune(calibrated, data, settings)).model;
  const batch = await firstBatch(data.batches(sequences, { limit: sequences }));
  const int64 = tuned.graph.inputs[0].dtype === 'int64';
  const x: HostTensor = int64
    ? { dtype: 'int64', shape: batch.shape, data: BigInt64Array.from(batch.x, (v) => BigInt(v)) }
    : { dtype: 'float32', shape: batch.shape, data: batch.x };
  return { model: tuned, x, batch };
}
