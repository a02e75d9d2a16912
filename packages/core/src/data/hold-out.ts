import { UsageError } from '../errors/index.js';
import type { Dataset } from './dataset.js';
import { shuffledIndices } from './random.js';

/** Keeps the hold-out draw apart from the training shuffles, which use seed·1000 + epoch. */
const HOLD_OUT_SEED_OFFSET = 7_919;

/**
 * Splits a data set into a training part and a held-out part of `fraction` of the samples, drawn by a
 * seeded shuffle (so the same seed holds out the same samples, on every run and after a resume). The
 * training part keeps the source order; neither part copies the samples.
 */
export function holdOut(data: Dataset, fraction: number, seed: number): { train: Dataset; heldOut: Dataset } {
  if (!(fraction > 0 && fraction < 1)) {
    throw new UsageError(`Invalid hold-out fraction ${fraction}: it must be between 0 and 1.`, { action: 'Pass e.g. --eval-split 0.1.' });
  }
  const n = Math.round(data.size * fraction);
  if (n < 1 || n >= data.size) {
    throw new UsageError(`Holding out ${fraction} of ${data.name} leaves ${n < 1 ? 'no sample to evaluate on' : 'no sample to train on'}.`, {
      action: 'Give a larger data set or another --eval-split fraction.',
    });
  }
  if (!isSubsettable(data)) {
    throw new UsageError(`${data.name} cannot be split into a held-out part.`, { action: 'Give held-out data with --eval-data instead.' });
  }
  const order = shuffledIndices(data.size, seed + HOLD_OUT_SEED_OFFSET);
  const held = order.slice(0, n).sort();
  const train = order.slice(n).sort();
  return {
    train: data.subset(train, `${data.name}, ${train.length} samples without the hold-out`),
    heldOut: data.subset(held, `${data.name}, ${n} held-out samples (seed ${seed})`),
  };
}

/** Data sets that can hand out a subset of their samples without copying them (in memory, NPY files). */
export interface SubsettableDataset extends Dataset {
  subset(indices: Uint32Array, name: string): Dataset;
}

export function isSubsettable(data: Dataset): data is SubsettableDataset {
  return typeof (data as Partial<SubsettableDataset>).subset === 'function';
}
