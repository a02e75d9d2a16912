import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/index.js';
import { tensorFromBatch } from '../runtime/feeds.js';

/** A fixed, seeded sample of the data kept as tensors, reused by every calibration pass. */
export function calibrationBatches(data: Dataset, batches: number, batchSize: number, seed: number): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  for (const b of data.batches(batchSize, { shuffle: true, seed, limit: batches * batchSize })) {
    out.push(tf.keep(tensorFromBatch(b.x, b.shape)));
  }
  return out;
}
