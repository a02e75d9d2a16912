import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/index.js';
import { InvalidDataError } from '../errors/index.js';
import { tensorFromBatch } from '../interpreter/feeds.js';

/** A fixed, seeded sample of the data kept as tensors, reused by every calibration pass. */
export async function calibrationBatches(data: Dataset, batches: number, batchSize: number, seed: number): Promise<tf.Tensor[]> {
  const out: tf.Tensor[] = [];
  try {
    for await (const b of data.batches(batchSize, { shuffle: true, seed, limit: batches * batchSize })) {
      out.push(tf.keep(tensorFromBatch(b.x, b.shape)));
    }
  } catch (e) {
    // A source that fails part-way (an unreadable image) must not leave the batches read so far allocated.
    out.forEach((t) => t.dispose());
    throw e;
  }
  if (out.length === 0) {
    // Only a source that skips unreadable files can yield nothing: the data sets themselves are never empty.
    throw new InvalidDataError(`${data.name} gave no readable sample to calibrate on (${data.skipped?.size ?? 0} file(s) skipped as unreadable).`, {
      action: 'Replace the unreadable files.',
    });
  }
  return out;
}
